// A member's own list of copies to remove that a membership change left it: partial copies of partitions a
// change ended without giving it (a cancel, seen here or learned later by gossip), and old copies of
// partitions moved away whose cleanup the driver could not ask of it (it was down): kept in the replica's metadata, written BEFORE
// the membership record that ends the change is stored (membership-service.ts), so a restart at any moment
// still finds it; carried out after the cleanup grace by the member itself, whatever became of the driver.
// A partition this node is again given (a later change, or the change finished after all) is kept.

import { ConvergeError } from '../core/errors.js';
import { backgroundFailures, type Logger, logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import type { MembershipState } from '../core/membership.js';
import { replicaSetsOf } from '../core/membership-replicas.js';
import type { Timers } from '../core/timers.js';
import type { DropReason } from './membership-routes.js';

/** The replica metadata name the list is stored under (beside the membership record). */
export const discardsMetaName = 'membership-discards';
export const discardsFormat = 1;
/** How often a member looks for discards that fell due (a grace is minutes; a second late is nothing). */
export const discardsTickMsDefault = 1000;
/** A list longer than this is refused (more entries than any ring has partitions, many times over). */
export const pendingDiscardsMax = 1 << 20;

export interface PendingDiscard {
  readonly partition: number;
  /** discard: a copy this node received for a change that did not give it the partition; cleanup: a copy it
   * held before a change moved the partition away, which the driver could not have it drop (it was down). */
  readonly reason: DropReason;
  /** The ended change's sinceEpoch (fences that change's streaming sessions on this node). */
  readonly epoch: number;
  /** Not removed before this time (the cleanup grace after this node learned the change ended). */
  readonly dueMs: number;
}

/**
 * What `self` may have to remove once `after` is installed over `before`: the partitions `before`'s change
 * would have given it, when `after` no longer runs that change (cancelled or finished, possibly with later
 * changes in between), and those the change moved away from it, once their move is cleaned or the change
 * over. Which of them are really removed is decided when they fall due, from the state installed then
 * (holdsPartition), so a finished change's partitions, or one given back, stay.
 */
export function leftToDiscard(
  self: string,
  before: MembershipState,
  after: MembershipState,
): Array<{ partition: number; epoch: number; reason: DropReason }> {
  const change = before.change;
  if (change === null) return [];
  const ended = after.change?.sinceEpoch !== change.sinceEpoch;
  const cleaned = new Set(
    ended ? [] : after.change!.moves.filter((m) => m.state === 'cleaned').map((m) => m.partition),
  );
  const out: Array<{ partition: number; epoch: number; reason: DropReason }> = [];
  for (const m of change.moves) {
    const gained = m.to.includes(self) && !m.from.includes(self);
    const lost = m.from.includes(self) && !m.to.includes(self) && m.state !== 'cleaned';
    if (gained && ended) out.push({ partition: m.partition, epoch: change.sinceEpoch, reason: 'discard' });
    if (lost && (ended || cleaned.has(m.partition)))
      out.push({ partition: m.partition, epoch: change.sinceEpoch, reason: 'cleanup' });
  }
  return out;
}

/** Whether `self` holds or receives partition `p` under `s` (its write set): such a copy is kept. */
export function holdsPartition(s: MembershipState, self: string, p: number): boolean {
  return replicaSetsOf(s, p).write.includes(self);
}

export function encodeDiscards(list: readonly PendingDiscard[]): Uint8Array {
  const discards = list.map((d) => [d.partition, d.epoch, d.dueMs, d.reason === 'cleanup' ? 1 : 0]);
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
    const ok =
      Array.isArray(e) &&
      e.length === 4 &&
      e.every((n) => Number.isSafeInteger(n) && n >= 0) &&
      (e[3] === 0 || e[3] === 1);
    if (!ok) throw invalid(`entry ${JSON.stringify(e)} is not [partition, epoch, dueMs, 0|1]`);
    const [partition, epoch, dueMs, r] = e as number[];
    const reason: DropReason = r === 1 ? 'cleanup' : 'discard';
    return { partition: partition!, epoch: epoch!, dueMs: dueMs!, reason };
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
  /** Removes this node's records of the partitions (the `membership/drop` route). */
  readonly drop: (partitions: number[], reason: DropReason, epoch: number) => Promise<number>;
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
    const gained = leftToDiscard(this.options.self, before, after);
    if (gained.length === 0) return;
    const dueMs = this.options.clock.now() + this.options.graceMs;
    let added = 0;
    await this.store((list) => {
      const key = (d: { partition: number; epoch: number; reason: DropReason }) =>
        `${d.partition}:${d.epoch}:${d.reason}`;
      const known = new Set(list.map(key));
      const fresh = gained.filter((g) => !known.has(key(g)));
      added = fresh.length;
      return [...list, ...fresh.map((g) => ({ ...g, dueMs }))];
    });
    if (added === 0) return;
    this.logger.info(
      { node: this.options.self, partitions: added, dueMs },
      `${added} partitions left by a membership change to remove after the grace`,
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
    const groups = new Map<string, { reason: DropReason; epoch: number; partitions: number[] }>();
    for (const d of due) {
      if (holdsPartition(s, this.options.self, d.partition)) continue;
      const k = `${d.reason}:${d.epoch}`;
      const g = groups.get(k) ?? { reason: d.reason, epoch: d.epoch, partitions: [] };
      g.partitions.push(d.partition);
      groups.set(k, g);
    }
    let records = 0;
    for (const g of groups.values()) records += await this.options.drop(g.partitions, g.reason, g.epoch);
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
