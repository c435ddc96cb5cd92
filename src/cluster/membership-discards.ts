// A member's own list of partial copies to remove after a membership change ended without giving it the
// partition (a cancel, seen here or learned later by gossip): kept in the replica's metadata, written BEFORE
// the membership record that ends the change is stored (membership-service.ts), so a restart at any moment
// still finds it; carried out after the cleanup grace by the member itself, whatever became of the driver.
// A partition this node is again given (a later change, or the change finished after all) is kept.

import { ConvergeError } from '../core/errors.js';
import { backgroundFailures, type Logger, logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import type { MembershipState } from '../core/membership.js';
import { replicaSetsOf } from '../core/membership-replicas.js';
import type { Timers } from '../core/timers.js';

/** The replica metadata name the list is stored under (beside the membership record). */
export const discardsMetaName = 'membership-discards';
export const discardsFormat = 1;
/** How often a member looks for discards that fell due (a grace is minutes; a second late is nothing). */
export const discardsTickMsDefault = 1000;
/** A list longer than this is refused (more entries than any ring has partitions, many times over). */
export const pendingDiscardsMax = 1 << 20;

export interface PendingDiscard {
  readonly partition: number;
  /** The ended change's sinceEpoch (fences that change's streaming sessions on this node). */
  readonly epoch: number;
  /** Not removed before this time (the cleanup grace after this node learned the change ended). */
  readonly dueMs: number;
}

/**
 * The partitions `self` would have gained from `before`'s change, once `after` no longer runs that change
 * (cancelled or finished, possibly with later changes in between: which partitions to keep is decided when
 * the discard falls due, from the state installed then).
 */
export function gainedInEndedChange(
  self: string,
  before: MembershipState,
  after: MembershipState,
): Array<{ partition: number; epoch: number }> {
  const change = before.change;
  if (change === null || after.change?.sinceEpoch === change.sinceEpoch) return [];
  return change.moves
    .filter((m) => m.to.includes(self) && !m.from.includes(self))
    .map((m) => ({ partition: m.partition, epoch: change.sinceEpoch }));
}

/** Whether `self` holds or receives partition `p` under `s` (its write set): such a copy is kept. */
export function holdsPartition(s: MembershipState, self: string, p: number): boolean {
  return replicaSetsOf(s, p).write.includes(self);
}

export function encodeDiscards(list: readonly PendingDiscard[]): Uint8Array {
  const discards = list.map((d) => [d.partition, d.epoch, d.dueMs]);
  return new TextEncoder().encode(JSON.stringify({ format: discardsFormat, discards }));
}

export function decodeDiscards(bytes: Uint8Array): PendingDiscard[] {
  const invalid = (why: string) => new ConvergeError('MEMBERSHIP_INVALID', `pending discards: ${why}`);
  let v: { format?: unknown; discards?: unknown };
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as typeof v;
  } catch (err) {
    throw invalid(`not JSON: ${(err as Error).message}`);
  }
  if (v?.format !== discardsFormat) throw invalid(`format ${String(v?.format)} is not ${discardsFormat}`);
  if (!Array.isArray(v.discards) || v.discards.length > pendingDiscardsMax) throw invalid('not a list');
  return v.discards.map((e: unknown) => {
    const ok = Array.isArray(e) && e.length === 3 && e.every((n) => Number.isSafeInteger(n) && n >= 0);
    if (!ok) throw invalid(`entry ${JSON.stringify(e)} is not [partition, epoch, dueMs]`);
    const [partition, epoch, dueMs] = e as number[];
    return { partition: partition!, epoch: epoch!, dueMs: dueMs! };
  });
}

export interface MembershipDiscardsOptions {
  readonly self: string;
  readonly meta: {
    getMeta(name: string): Uint8Array | undefined;
    putMeta(name: string, value: Uint8Array): Promise<void>;
  };
  readonly clock: Clock;
  readonly timers: Timers;
  /** How long after the end of a change its partial copies stay (the membership cleanup grace). */
  readonly graceMs: number;
  /** How often due discards are looked for (discardsTickMsDefault). */
  readonly tickMs?: number;
  /** The state installed now (which partitions this node holds or receives). */
  readonly current: () => MembershipState;
  /** Removes this node's records of the partitions (the `membership/drop` route, reason discard). */
  readonly drop: (partitions: number[], epoch: number) => Promise<number>;
  readonly logger?: Logger;
}

export class MembershipDiscards {
  private list: PendingDiscard[];
  private abort: AbortController | null = null;
  private running: Promise<void> | null = null;
  /** Writes of the list, one after the other (the stored list is always the last one made). */
  private writing: Promise<unknown> = Promise.resolve();
  private readonly logger: Logger;

  constructor(private readonly options: MembershipDiscardsOptions) {
    const stored = options.meta.getMeta(discardsMetaName);
    this.list = stored === undefined ? [] : decodeDiscards(stored);
    this.logger = options.logger ?? backgroundFailures.logger;
  }

  pending(): readonly PendingDiscard[] {
    return this.list;
  }

  /**
   * Called before a new membership record is stored: the partitions `before`'s change would have given this
   * node, if `after` ends that change, are added to the stored list (due after the grace).
   */
  async changeEnding(before: MembershipState, after: MembershipState): Promise<void> {
    const gained = gainedInEndedChange(this.options.self, before, after);
    if (gained.length === 0) return;
    const dueMs = this.options.clock.now() + this.options.graceMs;
    let added = 0;
    await this.store((list) => {
      const known = new Set(list.map((d) => `${d.partition}:${d.epoch}`));
      const fresh = gained.filter((g) => !known.has(`${g.partition}:${g.epoch}`));
      added = fresh.length;
      return [...list, ...fresh.map((g) => ({ ...g, dueMs }))];
    });
    if (added === 0) return;
    this.logger.info(
      { node: this.options.self, partitions: added, dueMs },
      `${added} partitions of an ended membership change to discard after the grace`,
    );
  }

  /** Stores the list `change` makes of the stored one (one write after the other). */
  private store(change: (list: PendingDiscard[]) => PendingDiscard[]): Promise<void> {
    const run = this.writing.then(async () => {
      const next = change(this.list);
      if (next.length === this.list.length && next.every((d, i) => d === this.list[i])) return;
      await this.options.meta.putMeta(discardsMetaName, encodeDiscards(next));
      this.list = next;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Carries out the due discards (those this node holds again are only forgotten); returns records removed. */
  async tick(): Promise<number> {
    const now = this.options.clock.now();
    const due = this.list.filter((d) => d.dueMs <= now);
    if (due.length === 0) return 0;
    const s = this.options.current();
    const byEpoch = new Map<number, number[]>();
    for (const d of due) {
      if (holdsPartition(s, this.options.self, d.partition)) continue;
      byEpoch.set(d.epoch, [...(byEpoch.get(d.epoch) ?? []), d.partition]);
    }
    let records = 0;
    for (const [epoch, partitions] of byEpoch) records += await this.options.drop(partitions, epoch);
    const done = new Set(due);
    await this.store((list) => list.filter((d) => !done.has(d)));
    return records;
  }

  start(): void {
    if (this.running !== null) return;
    const abort = new AbortController();
    this.abort = abort;
    this.running = (async () => {
      while (!abort.signal.aborted) {
        await this.tick().catch(logFailure('membership discards'));
        try {
          await this.options.timers.sleep(this.options.tickMs ?? discardsTickMsDefault, abort.signal);
        } catch {
          return;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort?.abort(new ConvergeError('UNAVAILABLE', 'membership discards stopped'));
    await this.running;
    await this.writing;
    this.running = null;
  }
}
