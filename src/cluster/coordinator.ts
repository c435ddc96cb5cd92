// The coordinator: fans a client request out to every replica and answers once the consistency level is met.
// A write that reaches fewer than W replicas fails with UNAVAILABLE, but the replicas that took it keep it
// (drift, which hints and anti-entropy heal). A read returns the merge winner of R answers and, with read
// repair on, sends the winner to the replicas that answered with something older.

import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { type VersionedRecord, fpEquals, merge } from '../core/record.js';
import { decodeOptionalRecord, encodeKey, encodeRecords } from './codec.js';
import type { Consistency } from './node-types.js';
import type { NodeContext } from './node-context.js';

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

/** Sends `record` to every replica (self included); resolves once `consistency` is met. */
export function coordinateWrite(ctx: NodeContext, record: VersionedRecord, consistency: Consistency): Promise<WriteOutcome> {
  const need = required(consistency, ctx.peers.length + 1);
  const outcome: WriteOutcome = { acknowledged: [], unreachable: [], hinted: [] };
  // Replicas that answered but could not store the write (a full disk): failed, yet not unreachable.
  const storageFailed = new Map<string, ConvergeError>();
  const body = encodeRecords([record]);
  return new Promise((resolve, reject) => {
    let settled = 0;
    let done = false;
    const total = ctx.peers.length + 1;
    const finish = (): void => {
      if (done) return;
      if (outcome.acknowledged.length >= need) {
        done = true;
        resolve({ acknowledged: [...outcome.acknowledged], unreachable: [...outcome.unreachable], hinted: [...outcome.hinted] });
      } else if (settled === total) {
        done = true;
        reject(notEnough('wrote to', outcome, need, total, consistency, storageFailed, ctx.id));
      }
    };
    const ack = (id: string): void => {
      outcome.acknowledged.push(id);
      settled += 1;
      finish();
    };
    const fail = (id: string): void => {
      outcome.unreachable.push(id);
      settled += 1;
      finish();
    };
    const failStorage = (id: string, err: ConvergeError): void => {
      storageFailed.set(id, err);
      settled += 1;
      finish();
    };
    ctx.replica.apply([record], 'client').then(
      () => ack(ctx.id),
      (err: unknown) => failStorage(ctx.id, asStorageError(err)),
    );
    const missed = async (peer: string, reachable: boolean, err?: unknown): Promise<void> => {
      const storage = isStorageError(err) ? err : undefined;
      if (!reachable && storage === undefined) ctx.markSeen(peer, false);
      if (ctx.mechanisms.hints && ctx.hints !== undefined && (await ctx.hints.add(peer, record).catch(() => false))) {
        outcome.hinted.push(peer);
        ctx.metrics.hintsStored.inc();
      }
      if (storage !== undefined) failStorage(peer, storage);
      else fail(peer);
    };
    for (const peer of ctx.peers) {
      const inFlight = ctx.inFlight.get(peer.id) ?? 0;
      // Backpressure: a peer that cannot keep up gets a hint instead of an ever-growing request queue.
      if (inFlight >= ctx.limits.replicationInFlightMax) {
        ctx.metrics.replicationShed.inc();
        void missed(peer.id, true);
        continue;
      }
      ctx.inFlight.set(peer.id, inFlight + 1);
      ctx.transport
        .call(peer.id, { route: 'replicate', body, timeoutMs: ctx.limits.requestTimeoutMs })
        .finally(() => ctx.inFlight.set(peer.id, (ctx.inFlight.get(peer.id) ?? 1) - 1))
        .then(
          () => {
            ctx.markSeen(peer.id, true);
            ack(peer.id);
          },
          // A peer that refused the version as stamped too far ahead would refuse a hint of it too.
          (err: unknown) =>
            err instanceof ConvergeError && err.code === 'CLOCK_AHEAD' ? fail(peer.id) : missed(peer.id, false, err),
        );
    }
  });
}

const isStorageError = (err: unknown): err is ConvergeError =>
  err instanceof ConvergeError && (err.code === 'DISK_FULL' || err.code === 'STORAGE_FAILED');

const asStorageError = (err: unknown): ConvergeError =>
  isStorageError(err) ? err : new ConvergeError('STORAGE_FAILED', `storage write failed: ${String(err)}`);

/**
 * UNAVAILABLE when replicas were out of reach; when this node's own storage failed, that storage error's code
 * (DISK_FULL, STORAGE_FAILED): the node is up, and calling it unreachable would send the operator the wrong way.
 */
function notEnough(
  verb: string,
  outcome: WriteOutcome,
  need: number,
  total: number,
  consistency: Consistency,
  storageFailed: ReadonlyMap<string, ConvergeError> = new Map(),
  self?: string,
): ConvergeError {
  const unreachable = [...outcome.unreachable].sort();
  const failed = [...storageFailed.keys()].sort();
  const summary =
    `${verb} ${outcome.acknowledged.length} of ${total} replicas (${consistency} needs ${need}); ` +
    `unreachable: ${unreachable.join(', ') || 'none'}`;
  const acknowledged = [...outcome.acknowledged].sort();
  const details = { acknowledged, unreachable, required: need, hinted: [...outcome.hinted].sort() };
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
export async function coordinateRead(ctx: NodeContext, key: Uint8Array, consistency: Consistency): Promise<ReadOutcome> {
  const total = ctx.peers.length + 1;
  const need = required(consistency, total);
  const answers = new Map<string, VersionedRecord | undefined>([[ctx.id, ctx.replica.get(key)]]);
  if (need > 1) await collectReads(ctx, key, need, answers);
  if (answers.size < need) {
    const outcome = { acknowledged: [...answers.keys()], unreachable: ctx.peers.map((p) => p.id).filter((id) => !answers.has(id)), hinted: [] };
    throw notEnough('read from', outcome, need, total, consistency);
  }
  let winner: VersionedRecord | undefined;
  for (const r of answers.values()) {
    // A record stamped too far ahead (held by a node whose clock ran ahead) never wins a read.
    if (r !== undefined && !ctx.refusesAhead(r)) winner = winner === undefined ? r : merge(winner, r);
  }
  const stale = winner === undefined ? [] : [...answers].filter(([, r]) => r === undefined || !fpEquals(r.fp, winner.fp)).map(([id]) => id);
  if (winner !== undefined && stale.length > 0 && ctx.mechanisms.readRepair) repairInBackground(ctx, winner, stale);
  return { winner, replied: [...answers.keys()], repaired: ctx.mechanisms.readRepair ? stale : [] };
}

function collectReads(ctx: NodeContext, key: Uint8Array, need: number, answers: Map<string, VersionedRecord | undefined>): Promise<void> {
  const body = encodeKey(key);
  return new Promise((resolve) => {
    let pending = ctx.peers.length;
    const settle = (): void => {
      pending -= 1;
      if (answers.size >= need || pending === 0) resolve();
    };
    for (const peer of ctx.peers) {
      ctx.transport.call(peer.id, { route: 'read', body, timeoutMs: ctx.limits.requestTimeoutMs }).then(
        (bytes) => {
          ctx.markSeen(peer.id, true);
          const record = decodeOptionalRecord(bytes, ctx.limits.valueBytesMax);
          if (record !== undefined) ctx.hlc.observe(record.version);
          if (answers.size < need) answers.set(peer.id, record);
          settle();
        },
        () => {
          ctx.markSeen(peer.id, false);
          settle();
        },
      );
    }
  });
}

function repairInBackground(ctx: NodeContext, winner: VersionedRecord, stale: string[]): void {
  const body = encodeRecords([winner]);
  for (const id of stale) {
    ctx.metrics.readRepairs.inc();
    if (id === ctx.id) {
      void ctx.replica.apply([winner], 'read-repair').catch(logFailure('local read repair'));
      continue;
    }
    void ctx.transport.call(id, { route: 'repair', body, timeoutMs: ctx.limits.requestTimeoutMs }).catch(logFailure('read repair', 'debug'));
  }
}
