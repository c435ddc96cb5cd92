// What the driver loop knows of a change's streaming: the records each pending partition still lacks on its
// new owners (from the partition digests' counts, measured after every session) and the rate at which the
// sessions brought records lately. The members' status shows it (`converge cluster members`, with an ETA).

import type { MembershipState } from '../core/membership.js';
import { liveSources, ownersToVerify, type RangeDigests } from '../core/membership-moves.js';
import type { StreamingProgress } from '../core/membership-status.js';
import { digestCount } from './membership-routes.js';

/** The rate counts the records streamed over this window. */
export const streamingRateWindowMs = 30_000;

export class StreamingMeter {
  /** Per pending partition: records its most behind new owner still lacks. */
  private readonly left = new Map<number, number>();
  private readonly samples: Array<{ atMs: number; records: number }> = [];

  /** Records the partition digests measured for a partition (the counts are in the digest text). */
  measured(s: MembershipState, partition: number, digests: RangeDigests): void {
    const move = s.change?.moves.find((m) => m.partition === partition);
    if (move === undefined || s.change === null) return;
    const counts = (ids: readonly string[]): number[] =>
      ids.flatMap((id) => {
        const d = digests.get(id);
        return d === undefined ? [] : [digestCount(d)];
      });
    const sources = counts(liveSources(move, s.change));
    const targets = counts(ownersToVerify(move));
    if (sources.length === 0 || targets.length === 0) return;
    this.left.set(partition, Math.max(0, Math.max(...sources) - Math.min(...targets)));
  }

  /** A streaming session brought `records` to a new owner. */
  streamed(records: number, nowMs: number): void {
    if (records > 0) this.samples.push({ atMs: nowMs, records });
    this.trim(nowMs);
  }

  private trim(nowMs: number): void {
    while (this.samples.length > 0 && this.samples[0]!.atMs < nowMs - streamingRateWindowMs)
      this.samples.shift();
  }

  /** Null before any pending partition was measured; partitions no longer pending are forgotten. */
  progress(s: MembershipState, nowMs: number): StreamingProgress | null {
    const pending = new Set(
      (s.change?.moves ?? []).filter((m) => m.state === 'pending').map((m) => m.partition),
    );
    for (const p of [...this.left.keys()]) if (!pending.has(p)) this.left.delete(p);
    if (this.left.size === 0) return pending.size === 0 && s.change !== null ? this.rate(0, nowMs) : null;
    let recordsLeft = 0;
    for (const n of this.left.values()) recordsLeft += n;
    return this.rate(recordsLeft, nowMs);
  }

  private rate(recordsLeft: number, nowMs: number): StreamingProgress {
    this.trim(nowMs);
    const first = this.samples[0];
    const records = this.samples.reduce((n, x) => n + x.records, 0);
    const spanMs = first === undefined ? 0 : Math.max(1000, nowMs - first.atMs);
    return { recordsLeft, recordsPerSec: spanMs === 0 ? 0 : (records * 1000) / spanMs };
  }

  reset(): void {
    this.left.clear();
    this.samples.length = 0;
  }
}
