// One anti-entropy session between this node and a peer: reconciliation rounds, each followed by the repair
// of what it found in both directions through merge, throttled, checkpointed after every round so that a
// crash resumes where it stopped. The peer answers statelessly (core responder) over the transport.

import { prefixRange } from '../core/digest.js';
import { assert, ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { tokenOf } from '../core/hash.js';
import type { Difference } from '../core/reconcile-types.js';
import type { Reconciler, ReconcilerOptions, ReconcileScope } from '../core/reconciler.js';
import { differsOnlyByPurged, type VersionedRecord } from '../core/record.js';
import { planKey } from '../core/repair-plan.js';
import { roundItemsMax } from '../core/wire.js';
import {
  decodeFetchResponse,
  decodePushResponse,
  decodeRangeFetchResponse,
  encodeFetchRequest,
  encodePushRequest,
  encodeRangeFetchRequest,
  type RangeCursor,
  type RangeFetchResponse,
} from '../core/wire-repair.js';
import { recordBytes } from './repair-worker-tasks.js';
import type { SessionRange } from './ring.js';
import { busyClock, type SessionEnv, sessionLimitsDefault } from './session-env.js';
import { enterPhase } from './session-phase.js';
import { runStreamPath, type StreamState, streamsFirst } from './stream-session.js';
import { runSymbolPath } from './symbol-session.js';
import type { DiscoveryNote, SessionCounts, SessionProgress } from './types.js';

/** Default records per fetch or push (SessionLimits.repairBatchRecordsMax). */
export const repairBatchRecordsMax = sessionLimitsDefault.repairBatchRecordsMax;

export interface SessionRun {
  readonly id: string;
  readonly peer: string;
  readonly startedAtMs: number;
  readonly salt: number;
  readonly resumed: boolean;
  counts: { -readonly [K in keyof SessionCounts]: SessionCounts[K] };
  phase: SessionProgress['phase'];
  reconciler: Reconciler;
  /** How discovery went (symbol path, tree descent or both, and why); set once it is decided. */
  discovery?: DiscoveryNote;
  /** The ring epoch and partitions the session covers (scope undefined: every partition, from the root). */
  readonly range: SessionRange;
  /**
   * The partitions the streaming fast path may copy: a streaming session's, or those of a repair session a
   * membership change is streaming to this node (stream-session.ts). Empty: none.
   */
  readonly copies: readonly number[];
  /** The fast path, once begun. */
  stream?: StreamState;
  /** The peer's record count of each partition of `copies` (its ae/begin answer). */
  sourceCounts?: readonly number[];
}

export function reconcilerOptions(env: SessionEnv, salt: number, scope?: ReconcileScope): ReconcilerOptions {
  return {
    ...(scope === undefined ? {} : { scope }),
    salt,
    branchBits: env.limits.branchBits,
    entriesMax: env.limits.entriesMax,
    roundBytesMax: env.limits.roundBytesMax,
    roundBusyMsMax: env.limits.roundBusyMsMax,
    busyNow: busyClock(env),
  };
}

/** Runs rounds to the end. Throws on a lost peer or cancellation; the caller records the outcome. */
export async function runRounds(env: SessionEnv, run: SessionRun, signal: AbortSignal): Promise<void> {
  const call = (body: Uint8Array): Promise<Uint8Array> =>
    env.transport.call(run.peer, { route: 'ae/msg', body, timeoutMs: env.limits.requestTimeoutMs, signal });
  // A new owner copies what it receives in bulk first; reconciliation then checks it and finds what moved.
  if (streamsFirst(env, run)) await runStreamPath(env, run, call, signal, saveCheckpoint);
  // A resumed session continues its tree descent; a fresh one tries the symbol path first.
  if (
    !run.resumed &&
    (await runSymbolPath(env, run, call, signal, { repair, checkpoint: saveCheckpoint })) === 'decoded'
  ) {
    enterPhase(run, 'done');
    return;
  }
  // What the counts hold beyond the descent's own statistics (the symbol path's traffic): kept as a base.
  const t = run.reconciler.stats;
  const base = {
    bytesSent: run.counts.bytesSent - t.bytesSent,
    bytesReceived: run.counts.bytesReceived - t.bytesReceived,
    roundTrips: run.counts.roundTrips - t.roundTrips,
  };
  for (let req = run.reconciler.nextRequest(); req !== null; req = run.reconciler.nextRequest()) {
    await env.throttle.take(0, req.length, signal);
    enterPhase(run, 'discovering');
    const diffs = run.reconciler.onResponse(await call(req));
    const s = run.reconciler.stats;
    Object.assign(run.counts, {
      bytesSent: base.bytesSent + s.bytesSent,
      bytesReceived: base.bytesReceived + s.bytesReceived,
      roundTrips: base.roundTrips + s.roundTrips,
      keysCompared: s.keysCompared,
    });
    if (diffs.length > 0) {
      enterPhase(run, 'repairing');
      await repair(env, run, diffs, call, signal);
    }
    if (signal.aborted) throw signal.reason;
    await saveCheckpoint(env, run);
  }
  enterPhase(run, 'done');
}

/** The frontier and counts, so that a crash resumes the session where it stopped. */
function saveCheckpoint(env: SessionEnv, run: SessionRun): Promise<void> {
  return env.state.saveCheckpoint(
    {
      id: run.id,
      peer: run.peer,
      startedAtMs: run.startedAtMs,
      salt: run.salt,
      counts: { ...run.counts },
      frontier: Buffer.from(run.reconciler.checkpoint()).toString('base64'),
      epoch: run.range.epoch,
      ...(run.range.scope === undefined ? {} : { partitions: run.range.partitions }),
      ...(run.stream === undefined ? {} : { stream: run.stream }),
    },
    run.range.receiving !== undefined,
  );
}

/** What a round's differences ask for: keys to pull and push, whole ranges either way, purges to do here. */
interface RepairPlan {
  readonly pulls: Uint8Array[];
  readonly pushes: Uint8Array[];
  readonly ranges: Array<{ level: number; index: number }>;
  readonly remoteRanges: Array<{ level: number; index: number }>;
  readonly purgeNow: Array<{ key: Uint8Array; expected: VersionedRecord }>;
}

function planRepairs(env: SessionEnv, run: SessionRun, diffs: Difference[]): RepairPlan {
  const pulls: Uint8Array[] = [];
  const pushes: Uint8Array[] = [];
  const ranges: Array<{ level: number; index: number }> = [];
  const remoteRanges: Array<{ level: number; index: number }> = [];
  const purgeNow: Array<{ key: Uint8Array; expected: VersionedRecord }> = [];
  for (const d of diffs) {
    if (d.kind === 'local-range' || d.kind === 'remote-range') {
      checkRangeShared(run, d);
      run.counts.keysDivergent += d.records;
      (d.kind === 'local-range' ? ranges : remoteRanges).push(d);
      continue;
    }
    const token = checkKeyShared(env, run, d.key);
    const boundMs = env.purgedBeforeMs(token);
    // A purge one side has done and the other not yet is not divergence: do it here too, if it is ours.
    if (differsOnlyByPurged(d.local, d.remote, boundMs)) {
      if (d.local !== undefined) purgeNow.push({ key: d.key, expected: d.local });
      continue;
    }
    run.counts.keysDivergent += 1;
    const plan = planKey(d);
    // A tombstone older than the purge bound is garbage everywhere: the replica would not write it back.
    const remote = plan.remote;
    const unwanted =
      remote !== undefined && env.replica.underPurgeBound({ ...remote, key: d.key }, 'anti-entropy');
    if (plan.direction === 'pull' && unwanted) continue;
    (plan.direction === 'pull' ? pulls : pushes).push(d.key);
  }
  return { pulls, pushes, ranges, remoteRanges, purgeNow };
}

export async function repair(
  env: SessionEnv,
  run: SessionRun,
  diffs: Difference[],
  call: (b: Uint8Array) => Promise<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  const batchMax = env.limits.repairBatchRecordsMax;
  const { pulls, pushes, ranges, remoteRanges, purgeNow } = planRepairs(env, run, diffs);
  if (purgeNow.length > 0) env.state.tombstonesPurged += await env.replica.remove(purgeNow);
  for (let i = 0; i < pulls.length; i += batchMax) {
    await pullBatch(env, run, pulls.slice(i, i + batchMax), call, signal);
  }
  if (remoteRanges.length > 0) await pullRanges(env, run, remoteRanges, call, signal);
  // Whole ranges the peer lacks fill full batches across ranges: a peer far behind lacks many small ranges,
  // and one message per range would cost a round trip per handful of records. With a push offload the worker
  // reads and encodes them; what it could not do is left to the loop below, where single keys share the
  // batches. Batches overlap: the next is read and sent while the peer commits the one before.
  const sends = new Window(env.limits.repairBatchesInFlightMax);
  const rest =
    env.repairWorker === undefined ? ranges : await pushRanges(env, run, ranges, call, sends, signal);
  let batch: VersionedRecord[] = [];
  for (const { level, index } of rest) {
    const { start, end } = prefixRange(level, index);
    for (const { record } of env.replica.scanTokens(start, end)) {
      batch.push(record);
      if (batch.length >= batchMax) {
        await sends.add(pushBatch(env, run, batch, call, signal));
        batch = [];
      }
    }
  }
  for (const key of pushes) {
    // Read while the batch fills, after the awaits above: push what we hold now, merge on the peer sorts out
    // the rest.
    const record = env.replica.get(key);
    if (record !== undefined) batch.push(record);
    if (batch.length >= batchMax) {
      await sends.add(pushBatch(env, run, batch, call, signal));
      batch = [];
    }
  }
  await sends.add(pushBatch(env, run, batch, call, signal));
  await sends.drain();
}

/**
 * A session moves records of the partitions both sides hold, and no other: the scoped reconciler reports
 * nothing else, and this checks it before anything is pushed or pulled (a failure is a bug, not a peer's).
 */
function checkKeyShared(env: SessionEnv, run: SessionRun, key: Uint8Array): Uint8Array {
  const token = tokenOf(key);
  if (run.range.scope !== undefined) {
    const p = env.topology().partitionOf(token);
    assert(run.range.partitions.includes(p), `session with ${run.peer}: key of unshared partition ${p}`);
  }
  return token;
}

function checkRangeShared(run: SessionRun, r: { level: number; index: number }): void {
  const scope = run.range.scope;
  if (scope === undefined) return;
  // A range at or below the partition level lies inside one partition: the one its top bits name.
  assert(r.level >= scope.level, `session with ${run.peer}: a range above the partition level`);
  const p = r.index >>> (r.level - scope.level);
  assert(run.range.partitions.includes(p), `session with ${run.peer}: range in unshared partition ${p}`);
}

/** Whether this node takes records of the partition: it holds it, or a streaming session brings it. */
function takes(env: SessionEnv, run: SessionRun, partition: number): boolean {
  return run.range.receiving?.has(partition) === true || env.topology().holds(env.id, partition);
}

/** Records this node pulled of partitions it does not hold are dropped (and counted), never written. */
function ownedOnly(env: SessionEnv, run: SessionRun, records: readonly VersionedRecord[]): VersionedRecord[] {
  const t = env.topology();
  const kept = records.filter((r) => takes(env, run, t.partitionOf(tokenOf(r.key))));
  if (kept.length < records.length) env.metrics.notOwned(records.length - kept.length);
  return kept;
}

/**
 * Ranges per range fetch or worker read. A range costs 5 bytes in a request: requests stay within the round
 * bound too (and the wire's item limit, whatever the round bound is set to).
 */
function rangesPerRequest(env: SessionEnv): number {
  return Math.min(roundItemsMax, Math.max(1, Math.floor(env.limits.roundBytesMax / 5)));
}

/**
 * Pushes whole ranges the peer lacks as the worker reads and encodes them, a batch at a time. Returns the
 * ranges left undone if the worker is gone (the caller pushes them; a range begun twice only repeats records,
 * which merge on the peer ignores).
 */
async function pushRanges(
  env: SessionEnv,
  run: SessionRun,
  ranges: ReadonlyArray<{ level: number; index: number }>,
  call: (b: Uint8Array) => Promise<Uint8Array>,
  sends: Window,
  signal: AbortSignal,
): Promise<ReadonlyArray<{ level: number; index: number }>> {
  const offload = env.repairWorker!;
  const perRequest = rangesPerRequest(env);
  let from = 0;
  let after: RangeCursor | undefined;
  while (from < ranges.length) {
    const batch = ranges.slice(from, from + perRequest);
    const got = await offload.pushBody(batch, after, env.limits.repairBatchRecordsMax);
    if (got === undefined) return ranges.slice(from);
    if (got.processed > batch.length || (got.processed === 0 && got.next === undefined))
      throw new ConvergeError('INTERNAL', 'the anti-entropy worker read ranges without progress');
    if (got.records > 0) await sends.add(pushEncoded(env, run, got.body, got.records, call, signal));
    from += got.processed;
    after = got.next;
  }
  return [];
}

async function pushEncoded(
  env: SessionEnv,
  run: SessionRun,
  body: Uint8Array,
  records: number,
  call: (b: Uint8Array) => Promise<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  await env.throttle.take(records, body.length, signal);
  // Foreground requests go first: repair resumes only after the event loop has drained what is waiting.
  await env.timers.sleep(0, signal);
  const res = decodePushResponse(await call(body));
  run.counts.bytesSent += body.length;
  run.counts.keysPushed += res.applied;
  env.metrics.repaired('push', res.applied, body.length);
}

/** At most `depth` repair batches in flight: adding one more first waits for the oldest. */
class Window {
  private readonly inFlight: Promise<void>[] = [];

  constructor(private readonly depth: number) {}

  async add(op: Promise<void>): Promise<void> {
    // Awaited below or by drain; if an earlier batch fails first, this one's outcome is moot but handled.
    op.catch(logFailure('session apply batch', 'debug'));
    this.inFlight.push(op);
    while (this.inFlight.length >= this.depth) await this.inFlight.shift();
  }

  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }
}

async function pullBatch(
  env: SessionEnv,
  run: SessionRun,
  keys: Uint8Array[],
  call: (b: Uint8Array) => Promise<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  let rest = keys;
  while (rest.length > 0) {
    const req = encodeFetchRequest({ keys: rest });
    const res = decodeFetchResponse(await call(req));
    if (res.processed === 0)
      throw new ConvergeError('PROTOCOL_INVALID', `${run.peer} answered a fetch with no records`);
    const bytes = recordBytes(res.records);
    run.counts.bytesSent += req.length;
    run.counts.bytesReceived += bytes;
    await env.throttle.take(res.records.length, bytes, signal);
    await env.timers.sleep(0, signal);
    const owned = ownedOnly(env, run, res.records);
    const applied = owned.length === 0 ? { applied: 0 } : await env.replica.apply(owned, 'anti-entropy');
    run.counts.keysPulled += applied.applied;
    env.metrics.repaired('pull', applied.applied, bytes);
    rest = rest.slice(res.processed);
  }
}

/**
 * Fetches every record the peer holds under prefixes where this replica holds nothing, a batch at a time, in
 * one step per batch (no headers, no key list). The next batch is requested while this one is applied, so the
 * peer's scan and the transfer overlap the local commit. With a pull offload, a worker thread decodes each
 * answer and merges it against storage; the event loop stages and writes the winners.
 */
/** A range fetch's answer, ready to be throttled and applied. */
type Fetched = {
  processed: number;
  next: RangeCursor | undefined;
  records: number;
  bytes: number;
  requestBytes: number;
  from: number;
  /** Records of the answer under the purge bound: dropped, and not counted as divergent. */
  purged: number;
  apply: () => Promise<number>;
};

/** One range fetch: sent, its answer decoded (or prepared by the worker) and checked for progress. */
async function fetchRanges(
  env: SessionEnv,
  run: SessionRun,
  ranges: ReadonlyArray<{ level: number; index: number }>,
  call: (b: Uint8Array) => Promise<Uint8Array>,
  perRequest: number,
  from: number,
  after: RangeCursor | undefined,
): Promise<Fetched> {
  // A tombstone older than its partition's purge bound is garbage everywhere: the replica does not write it
  // back. A record of a partition this node does not hold is never written either (ownedOnly counts those).
  const t = env.topology();
  const wanted = (r: VersionedRecord): boolean =>
    takes(env, run, t.partitionOf(tokenOf(r.key))) && !env.replica.underPurgeBound(r, 'anti-entropy');
  const batch = ranges.slice(from, from + perRequest);
  const req = encodeRangeFetchRequest({
    ranges: batch,
    recordsMax: env.limits.repairBatchRecordsMax,
    ...(after === undefined ? {} : { after }),
  });
  const body = await call(req);
  // A streaming session (a new owner) applies on the event loop: the worker thread runs at the lowest OS
  // priority, and a membership change should stream as fast as the node can (BENCHMARKS.md, join).
  const prepared = run.range.receiving === undefined ? await env.repairWorker?.prepareRange(body) : undefined;
  let got: Fetched;
  if (prepared !== undefined) {
    got = {
      processed: prepared.processed,
      next: prepared.next,
      records: prepared.records,
      bytes: prepared.bytes,
      requestBytes: req.length,
      from,
      // Known once applied: the replica checks the bound then, and it may have moved on since the fetch.
      purged: 0,
      apply: async () => {
        const res = await env.replica.applyPrepared(prepared.prepared, 'anti-entropy');
        run.counts.keysDivergent -= res.purged ?? 0;
        return res.applied;
      },
    };
  } else {
    const res: RangeFetchResponse = decodeRangeFetchResponse(body);
    const purged = res.records.length - res.records.filter(wanted).length;
    got = {
      processed: res.processed,
      next: res.next,
      records: res.records.length,
      bytes: recordBytes(res.records),
      requestBytes: req.length,
      from,
      purged,
      apply: async () => {
        const records = ownedOnly(env, run, res.records).filter(wanted);
        return records.length === 0 ? 0 : (await env.replica.apply(records, 'anti-entropy')).applied;
      },
    };
  }
  if (
    got.processed > batch.length ||
    (got.processed === 0 && got.next === undefined) ||
    (got.processed === batch.length && got.next !== undefined)
  )
    throw new ConvergeError('PROTOCOL_INVALID', `${run.peer} answered a range fetch without progress`);
  return got;
}

async function pullRanges(
  env: SessionEnv,
  run: SessionRun,
  ranges: ReadonlyArray<{ level: number; index: number }>,
  call: (b: Uint8Array) => Promise<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  const perRequest = rangesPerRequest(env);
  const fetch = (from: number, after: RangeCursor | undefined): Promise<Fetched> =>
    fetchRanges(env, run, ranges, call, perRequest, from, after);
  const applies = new Window(env.limits.repairBatchesInFlightMax);
  let pending: Promise<Fetched> | undefined = fetch(0, undefined);
  try {
    while (pending !== undefined) {
      const got: Fetched = await pending;
      const next: number = got.from + got.processed;
      pending = next < ranges.length ? fetch(next, got.next) : undefined;
      run.counts.bytesSent += got.requestBytes;
      run.counts.bytesReceived += got.bytes;
      // Ranges were counted by their records when found; those under the purge bound were a purge, not drift.
      run.counts.keysDivergent -= got.purged;
      await env.throttle.take(got.records, got.bytes, signal);
      await env.timers.sleep(0, signal);
      if (got.records === 0) continue;
      // Staged at once (reads see it), committed with the next group of writes: the following batch is
      // merged while this one reaches the disk.
      await applies.add(
        got.apply().then((applied) => {
          run.counts.keysPulled += applied;
          env.metrics.repaired('pull', applied, got.bytes);
        }),
      );
    }
    await applies.drain();
  } finally {
    // A failed apply leaves the prefetch behind: its outcome no longer matters, but must not go unhandled.
    pending?.catch(logFailure('session prefetch', 'debug'));
  }
}

async function pushBatch(
  env: SessionEnv,
  run: SessionRun,
  records: VersionedRecord[],
  call: (b: Uint8Array) => Promise<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  if (records.length === 0) return;
  await pushEncoded(env, run, encodePushRequest(records), records.length, call, signal);
}
