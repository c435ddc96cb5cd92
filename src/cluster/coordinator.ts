// The coordinator: sends a client write to every replica of its key and answers once the consistency level is
// met. Writes to peers travel through their replication channels (coalesced messages, replication-channel.ts)
// after admission has found room in every reachable peer's queue (replication-admission.ts): a busy
// coordinator makes the client wait or refuses with OVERLOADED before applying anything, and never skips a
// reachable replica. A write that reaches fewer than W replicas fails with UNAVAILABLE, but the replicas that
// took it keep it (drift, which hints and anti-entropy heal). A read returns the merge winner of R answers
// and, with read repair on, sends the winner to the replicas that answered with something older.

import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { acksNeeded, type CountingGroup, levelMet } from '../core/membership-replicas.js';
import { fpEquals, merge, type VersionedRecord } from '../core/record.js';
import { decodeOptionalRecord, encodeKey } from './codec.js';
import type { NodeContext } from './node-context.js';
import type { Consistency } from './node-types.js';
import type { Demand } from './replication-admission.js';
import { entryBytes } from './replication-codec.js';

export function required(consistency: Consistency, replicas: number): number {
  if (consistency === 'one') return 1;
  if (consistency === 'all') return replicas;
  return Math.floor(replicas / 2) + 1;
}

export interface WriteOutcome {
  readonly acknowledged: string[];
  readonly unreachable: string[];
  readonly hinted: string[];
}

/** Sends `record` to every replica of its key; resolves once `consistency` is met. */
export async function coordinateWrite(
  ctx: NodeContext,
  record: VersionedRecord,
  consistency: Consistency,
): Promise<WriteOutcome> {
  const [outcome] = await coordinateWrites(ctx, [record], consistency);
  if (outcome instanceof ConvergeError) throw outcome;
  return outcome!;
}

/**
 * Writes many records at one consistency level, each to the replicas of its key; admitted as one (all or
 * none: OVERLOADED rejects the whole call before anything is applied). Answers per record, in order: its
 * outcome, or the UNAVAILABLE error saying how many replicas acknowledged it.
 */
export async function coordinateWrites(
  ctx: NodeContext,
  records: readonly VersionedRecord[],
  consistency: Consistency,
): Promise<Array<WriteOutcome | ConvergeError>> {
  const plans = await sendWrites(ctx, records, consistency);
  const results = await Promise.all(plans.map((p) => p.result));
  const fenced = plans.flatMap((p, i) =>
    results[i] instanceof ConvergeError && p.fencedBy.size > 0 ? [i] : [],
  );
  if (fenced.length === 0 || ctx.catchUpMembership === undefined) return results;
  // A replica had installed a partition move this node had not: learn it, then send those records once more
  // to the owners it names (the same versions: a replica that already holds one keeps it as it is).
  const peers = new Set(fenced.flatMap((i) => [...plans[i]!.fencedBy]));
  const caughtUp = logFailure('membership catch-up');
  await Promise.all([...peers].map((peer) => ctx.catchUpMembership!(peer).catch(caughtUp)));
  const again = await Promise.all(
    (
      await sendWrites(
        ctx,
        fenced.map((i) => records[i]!),
        consistency,
      )
    ).map((p) => p.result),
  );
  for (const [j, i] of fenced.entries()) results[i] = again[j]!;
  return results;
}

/** Plans each record's write, admits them as one and starts them; the plans settle as replicas answer. */
async function sendWrites(
  ctx: NodeContext,
  records: readonly VersionedRecord[],
  consistency: Consistency,
): Promise<WriteTracker[]> {
  const plans = records.map((record) => {
    const replicas = ctx.replicasFor(record.key);
    // A partition a membership change moves: sent to old and new owners, counted per group.
    const counting = ctx.changeSetsFor?.(record.key)?.counting;
    const need =
      counting === undefined
        ? required(consistency, replicas.length)
        : counting.reduce((n, g) => n + acksNeeded(g, consistency), 0);
    return new WriteTracker(ctx, record, replicas, need, consistency, counting);
  });
  const demand: Demand = new Map();
  for (const plan of plans) {
    const bytes = entryBytes(plan.record);
    for (const id of plan.replicas) {
      if (id === ctx.id) continue;
      const d = demand.get(id) ?? { records: 0, bytes: 0 };
      d.records += 1;
      d.bytes += bytes;
      demand.set(id, d);
    }
  }
  await ctx.admission.admit(demand, () => startWrites(ctx, plans));
  return plans;
}

/** Applies locally and queues to every peer, synchronously (admission found the room a moment ago). */
function startWrites(ctx: NodeContext, plans: readonly WriteTracker[]): void {
  const local = plans.filter((p) => p.replicas.includes(ctx.id));
  if (local.length > 0) {
    ctx.replica
      .apply(
        local.map((p) => p.record),
        'client',
      )
      .then(
        (result) => {
          for (const p of local) {
            if (result.heldAhead?.has(p.record) === true) p.fail(ctx.id, heldAheadError(ctx.id));
            else p.ack(ctx.id);
          }
        },
        (err: unknown) => {
          for (const p of local) p.fail(ctx.id, asStorageError(err));
        },
      );
  }
  for (const plan of plans) {
    for (const id of plan.replicas) {
      if (id === ctx.id) continue;
      const channel = ctx.channels.get(id);
      if (channel === undefined) {
        plan.fail(id, new ConvergeError('PEER_UNKNOWN', `no peer named ${id}`));
        continue;
      }
      channel.enqueue(plan.record, 'replication', (err) =>
        err === undefined ? plan.ack(id) : void plan.missed(id, err),
      );
    }
  }
}

/** One record's progress towards its consistency level. */
class WriteTracker {
  readonly result: Promise<WriteOutcome | ConvergeError>;
  private resolve!: (outcome: WriteOutcome | ConvergeError) => void;
  private readonly outcome: WriteOutcome = { acknowledged: [], unreachable: [], hinted: [] };
  /** Replicas that answered but could not store the write (a full disk): failed, yet not unreachable. */
  private readonly storageFailed = new Map<string, ConvergeError>();
  private settled = 0;
  private done = false;
  /** Replicas that refused the write as coordinated under an older membership (MEMBERSHIP_STALE). */
  readonly fencedBy = new Set<string>();

  constructor(
    private readonly ctx: NodeContext,
    readonly record: VersionedRecord,
    readonly replicas: readonly string[],
    private readonly need: number,
    private readonly consistency: Consistency,
    /** The groups that must each meet the level (a moving partition); absent: `need` of `replicas`. */
    private readonly counting?: readonly CountingGroup[],
  ) {
    this.result = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  ack(id: string): void {
    this.outcome.acknowledged.push(id);
    this.settle();
  }

  fail(id: string, err: unknown): void {
    if (err instanceof ConvergeError && err.code === 'MEMBERSHIP_STALE') this.fencedBy.add(id);
    if (isStorageError(err)) this.storageFailed.set(id, err);
    else this.outcome.unreachable.push(id);
    this.settle();
  }

  /** A peer did not persist the record: keep a hint for it (hints on), then count it as failed. */
  async missed(id: string, err: ConvergeError): Promise<void> {
    const ctx = this.ctx;
    // A replica that refused the record (its admission rules: a purged tombstone, a version stamped beyond
    // --max-clock-drift) would refuse the hint too.
    if (!refusals.has(err.code) && ctx.mechanisms.hints && ctx.hints !== undefined) {
      const failed = logFailure('hint store');
      const stored = await ctx.hints.add(id, this.record).catch((e: unknown) => {
        failed(e);
        return false;
      });
      if (stored) {
        this.outcome.hinted.push(id);
        ctx.metrics.hintsStored.inc();
      }
    }
    this.fail(id, err);
  }

  private settle(): void {
    this.settled += 1;
    if (this.done) return;
    const o = this.outcome;
    const met =
      this.counting === undefined
        ? o.acknowledged.length >= this.need
        : levelMet(this.counting, new Set(o.acknowledged), this.consistency);
    if (met) {
      this.done = true;
      this.resolve({
        acknowledged: [...o.acknowledged],
        unreachable: [...o.unreachable],
        hinted: [...o.hinted],
      });
    } else if (this.settled === this.replicas.length) {
      this.done = true;
      const scope = { replicas: this.replicas, members: this.ctx.peers.length + 1 };
      this.resolve(
        notEnough('wrote to', o, this.need, scope, this.consistency, this.storageFailed, this.ctx.id),
      );
    }
  }
}

/** A replica that answered with one of these would refuse the hint too (or runs another ring). */
const refusals: ReadonlySet<string> = new Set([
  'CONFLICT',
  'RING_MISMATCH',
  'PARTITION_NOT_OWNED',
  'MEMBERSHIP_STALE',
]);

/** This node holds a version of the key it stamped while its clock ran away; the write would go with it. */
const heldAheadError = (id: string): ConvergeError =>
  new ConvergeError(
    'CLOCK_AHEAD',
    `${id} holds a version of the key stamped more than --max-clock-drift ahead of its clock; ` +
      'the write was not kept there',
  );

const isStorageError = (err: unknown): err is ConvergeError =>
  err instanceof ConvergeError && (err.code === 'DISK_FULL' || err.code === 'STORAGE_FAILED');

const asStorageError = (err: unknown): ConvergeError =>
  isStorageError(err) ? err : new ConvergeError('STORAGE_FAILED', `storage write failed: ${String(err)}`);

/**
 * UNAVAILABLE when replicas were out of reach; when this node's own storage failed, that storage error's code
 * (DISK_FULL, STORAGE_FAILED): the node is up, and calling it unreachable would send the operator the wrong
 * way.
 */
function notEnough(
  verb: string,
  outcome: WriteOutcome,
  need: number,
  scope: { replicas: readonly string[]; members: number },
  consistency: Consistency,
  storageFailed: ReadonlyMap<string, ConvergeError> = new Map(),
  self?: string,
): ConvergeError {
  const unreachable = [...outcome.unreachable].sort();
  const failed = [...storageFailed.keys()].sort();
  const acknowledged = [...outcome.acknowledged].sort();
  const replicas = [...scope.replicas].sort();
  // With RF < N the key has only some of the members: the message names them and who acknowledged.
  const which =
    replicas.length < scope.members
      ? `; the key's replicas: ${replicas.join(', ')}, acknowledged: ${acknowledged.join(', ') || 'none'}`
      : '';
  const summary =
    `${verb} ${outcome.acknowledged.length} of ${replicas.length} replicas (${consistency} needs ${need}); ` +
    `unreachable: ${unreachable.join(', ') || 'none'}${which}`;
  const details = { acknowledged, unreachable, required: need, hinted: [...outcome.hinted].sort(), replicas };
  if (failed.length === 0) return new ConvergeError('UNAVAILABLE', summary, details);
  const own = self === undefined ? undefined : storageFailed.get(self);
  const first = own ?? storageFailed.get(failed[0]!)!;
  const where = failed.map((id) => `${id}: ${storageFailed.get(id)!.code}`).join(', ');
  return new ConvergeError(
    own === undefined ? 'UNAVAILABLE' : first.code,
    `${summary}; storage failed on ${where} (${first.message})`,
    { ...details, storageFailed: failed },
  );
}

export interface ReadOutcome {
  readonly winner: VersionedRecord | undefined;
  readonly replied: string[];
  readonly repaired: string[];
}

/** Reads from R replicas (self first); the merge winner is returned, stale repliers are repaired. */
export async function coordinateRead(
  ctx: NodeContext,
  key: Uint8Array,
  consistency: Consistency,
): Promise<ReadOutcome> {
  const replicas = ctx.changeSetsFor?.(key)?.read ?? ctx.replicasFor(key);
  const total = replicas.length;
  const need = required(consistency, total);
  const answers = new Map<string, VersionedRecord | undefined>();
  if (replicas.includes(ctx.id)) answers.set(ctx.id, ctx.replica.get(key));
  if (answers.size < need)
    await collectReads(
      ctx,
      key,
      replicas.filter((id) => id !== ctx.id),
      need,
      answers,
    );
  if (answers.size < need) {
    const outcome = {
      acknowledged: [...answers.keys()],
      unreachable: replicas.filter((id) => !answers.has(id)),
      hinted: [],
    };
    throw notEnough('read from', outcome, need, { replicas, members: ctx.peers.length + 1 }, consistency);
  }
  let winner: VersionedRecord | undefined;
  for (const r of answers.values()) {
    // A record stamped too far ahead (held by a node whose clock ran ahead) never wins a read.
    if (r !== undefined && !ctx.refusesAhead(r)) winner = winner === undefined ? r : merge(winner, r);
  }
  const stale =
    winner === undefined
      ? []
      : [...answers].filter(([, r]) => r === undefined || !fpEquals(r.fp, winner.fp)).map(([id]) => id);
  if (winner !== undefined && stale.length > 0 && ctx.mechanisms.readRepair)
    repairInBackground(ctx, winner, stale);
  return { winner, replied: [...answers.keys()], repaired: ctx.mechanisms.readRepair ? stale : [] };
}

function collectReads(
  ctx: NodeContext,
  key: Uint8Array,
  peers: readonly string[],
  need: number,
  answers: Map<string, VersionedRecord | undefined>,
): Promise<void> {
  const body = encodeKey(key);
  return new Promise((resolve) => {
    let pending = peers.length;
    if (pending === 0) resolve();
    const settle = (): void => {
      pending -= 1;
      if (answers.size >= need || pending === 0) resolve();
    };
    for (const peer of peers) {
      ctx.transport.call(peer, { route: 'read', body, timeoutMs: ctx.limits.requestTimeoutMs }).then(
        (bytes) => {
          ctx.markSeen(peer, true);
          const record = decodeOptionalRecord(bytes, ctx.limits.valueBytesMax);
          if (record !== undefined) ctx.hlc.observe(record.version);
          if (answers.size < need) answers.set(peer, record);
          settle();
        },
        () => {
          ctx.markSeen(peer, false);
          settle();
        },
      );
    }
  });
}

/**
 * Read repair is best effort: it rides the replication channels when their queues have room and is
 * skipped (and counted) when they do not, since it must never make a client write wait.
 */
function repairInBackground(ctx: NodeContext, winner: VersionedRecord, stale: string[]): void {
  const bytes = entryBytes(winner);
  for (const id of stale) {
    if (id === ctx.id) {
      ctx.metrics.readRepairs.inc();
      ctx.replica.apply([winner], 'read-repair').catch(logFailure('local read repair'));
      continue;
    }
    const channel = ctx.channels.get(id);
    if (channel === undefined || channel.down || !channel.hasRoom(1, bytes)) {
      ctx.metrics.readRepairsSkipped.inc();
      continue;
    }
    ctx.metrics.readRepairs.inc();
    const failed = logFailure('read repair', 'debug');
    channel.enqueue(winner, 'read-repair', (err) => {
      if (err !== undefined) failed(err);
    });
  }
}
