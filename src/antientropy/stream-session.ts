// The streaming fast path of a membership change's session: a new owner copies the partitions it is receiving
// from a source in large pages, several in flight, before the session's ordinary reconciliation runs (which
// then finds the two sides equal, or repairs what moved meanwhile). The source scans its storage in token
// order and answers a page in one message; the receiver applies each page in one storage batch through the
// replica's ordinary merge, so client writes that reached it during the join are never overwritten by older
// versions. Progress is checkpointed by the last record applied in each chain of pages: a restart resumes
// after it. A source that does not speak the fast path (an older node) answers PROTOCOL_INVALID, and the
// session falls back to the ordinary path from where it stands.

import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { tokenOf } from '../core/hash.js';
import { answerRangeFetch } from '../core/reconcile-driver.js';
import type { ReplicaReader } from '../core/reconcile-types.js';
import type { VersionedRecord } from '../core/record.js';
import { type RangeCursor, recordWireBytes } from '../core/wire-repair.js';
import {
  decodeStreamResponse,
  encodeStreamRequest,
  type StreamRequest,
  type StreamResponse,
} from '../core/wire-stream.js';
import { recordBytes } from './repair-worker-tasks.js';
import type { SessionRange } from './ring.js';
import type { SessionRun } from './session.js';
import type { SessionEnv } from './session-env.js';
import { enterPhase } from './session-phase.js';
import type { FastPathNote } from './types.js';

type Call = (body: Uint8Array) => Promise<Uint8Array>;

/** One chain of pages: the partitions it has left (ascending) and where the first of them continues. */
export interface StreamChain {
  partitions: number[];
  /** Base64 token and key of the last record applied in `partitions[0]`; absent: from its start. */
  after?: { readonly token: string; readonly key: string };
}

/** Where a session's fast path stands (checkpointed with the session). */
export interface StreamState {
  chains: StreamChain[];
  /** Partitions it copies, pages and records received so far. */
  partitions: number;
  pages: number;
  records: number;
  /** The fast path ended (every chain drained, or the source does not speak it): reconciliation runs. */
  done: boolean;
  /** Why it ended early, if it did: the source refused the fast path. */
  fallback?: string;
}

/** What a history entry says of the fast path. */
export function fastPathNote(s: StreamState): FastPathNote {
  const { partitions, pages, records, fallback } = s;
  return { partitions, pages, records, ...(fallback === undefined ? {} : { fallback }) };
}

/** Whether a checkpointed value is a stream state this code wrote (anything else is discarded). */
export function isStreamState(v: unknown): v is StreamState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Partial<StreamState>;
  return (
    typeof s.done === 'boolean' &&
    [s.partitions, s.pages, s.records].every((n) => Number.isInteger(n)) &&
    Array.isArray(s.chains) &&
    s.chains.every(
      (c) =>
        Array.isArray(c?.partitions) &&
        c.partitions.every((p) => Number.isInteger(p)) &&
        (c.after === undefined || (typeof c.after.token === 'string' && typeof c.after.key === 'string')),
    )
  );
}

/**
 * The partitions split into `chains` runs of neighbours with about as many partitions each: each run is
 * streamed in token order by its own sequence of pages, and the runs go at once.
 */
export function planChains(partitions: readonly number[], chains: number): StreamChain[] {
  const n = Math.max(1, Math.min(chains, partitions.length));
  const out: StreamChain[] = [];
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * partitions.length) / n);
    const to = Math.floor(((i + 1) * partitions.length) / n);
    if (to > from) out.push({ partitions: partitions.slice(from, to) });
  }
  return out;
}

/**
 * The partitions worth copying whole: those this node holds less than half as many records of as the source
 * (by the counts in its answer to ae/begin; all of them when it sent none). A session after a copy, or one
 * that resumes a change mostly done, reconciles instead of copying again.
 */
export function lackingPartitions(env: SessionEnv, run: SessionRun): number[] {
  const counts = run.sourceCounts;
  const level = run.range.scope?.level ?? 0;
  const digest = env.replica.digest;
  return run.copies.filter((p, i) => {
    const theirs = counts?.[i];
    return theirs === undefined || 2 * digest.node(level, p).count < theirs;
  });
}

/**
 * The partitions a session may copy by the fast path: a streaming session's own, and those of a repair
 * session that a membership change is streaming to this node (its write-set ring gives them to it already, so
 * its repair sessions cover them and would otherwise copy them the slow way, beside the streaming sessions).
 */
export function copiesOf(env: SessionEnv, range: SessionRange): readonly number[] {
  if (range.receiving !== undefined) return range.partitions;
  if (range.scope === undefined) return [];
  const streamed = env.streamedTo?.(env.id);
  return streamed === undefined || streamed.size === 0 ? [] : range.partitions.filter((p) => streamed.has(p));
}

/** Whether the session streams first: a new owner's session with the fast path enabled and not yet done. */
export function streamsFirst(env: SessionEnv, run: SessionRun): boolean {
  return run.copies.length > 0 && env.limits.streamPageRecordsMax > 0 && run.stream?.done !== true;
}

const toCursor = (a: StreamChain['after']): RangeCursor | undefined =>
  a === undefined ? undefined : { token: Buffer.from(a.token, 'base64'), key: Buffer.from(a.key, 'base64') };

const fromCursor = (c: RangeCursor): { token: string; key: string } => ({
  token: Buffer.from(c.token).toString('base64'),
  key: Buffer.from(c.key).toString('base64'),
});

/**
 * Streams every chain to its end, checkpointing after each applied page. Returns normally when done or when
 * the source does not speak the fast path (run.stream says which); throws on a lost peer or cancellation.
 */
export async function runStreamPath(
  env: SessionEnv,
  run: SessionRun,
  call: Call,
  signal: AbortSignal,
  checkpoint: (env: SessionEnv, run: SessionRun) => Promise<void>,
): Promise<void> {
  const level = run.range.scope?.level;
  if (level === undefined) throw new ConvergeError('INTERNAL', 'a streaming session without a scope');
  if (run.stream === undefined) {
    const lacking = lackingPartitions(env, run);
    run.stream = {
      chains: planChains(lacking, env.limits.streamPagesInFlightMax),
      partitions: lacking.length,
      pages: 0,
      records: 0,
      done: lacking.length === 0,
    };
  }
  const state = run.stream;
  if (state.done) return;
  enterPhase(run, 'repairing');
  // Checkpoints are written one at a time, each with every chain's latest position.
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    saving = saving.then(() => checkpoint(env, run));
    return saving;
  };
  try {
    await Promise.all(state.chains.map((chain) => streamChain(env, run, chain, level, call, signal, save)));
  } catch (err) {
    if (signal.aborted || !(err instanceof ConvergeError) || err.code !== 'PROTOCOL_INVALID') throw err;
    // Records applied so far stay: reconciliation finds the rest.
    state.fallback = `the source refused the streaming fast path (${err.message})`;
  }
  state.done = true;
  await save();
}

/** One chain: a page requested while the one before is applied, the position saved once a page is applied. */
async function streamChain(
  env: SessionEnv,
  run: SessionRun,
  chain: StreamChain,
  level: number,
  call: Call,
  signal: AbortSignal,
  save: () => Promise<void>,
): Promise<void> {
  const fetch = (partitions: readonly number[], after: RangeCursor | undefined): Promise<StreamResponse> =>
    fetchPage(env, run, partitions, level, after, call);
  let pending: Promise<StreamResponse> | undefined =
    chain.partitions.length > 0 ? fetch(chain.partitions, toCursor(chain.after)) : undefined;
  try {
    while (pending !== undefined) {
      const page: StreamResponse = await pending;
      const asked = chain.partitions.length;
      if (
        page.processed > asked ||
        (page.processed === 0 && page.next === undefined) ||
        (page.processed === asked && page.next !== undefined)
      )
        throw new ConvergeError('PROTOCOL_INVALID', `${run.peer} answered a stream request without progress`);
      const left = chain.partitions.slice(page.processed);
      // The next page is on its way while this one is throttled and applied.
      pending = left.length > 0 ? fetch(left, page.next) : undefined;
      await applyPage(env, run, page.records, signal);
      chain.partitions = left;
      run.stream!.pages += 1;
      run.stream!.records += page.records.length;
      if (page.next === undefined) delete chain.after;
      else chain.after = fromCursor(page.next);
      await save();
    }
  } finally {
    // A failed apply leaves the prefetch behind: its outcome no longer matters, but must not go unhandled.
    pending?.catch(logFailure('stream prefetch', 'debug'));
  }
}

async function fetchPage(
  env: SessionEnv,
  run: SessionRun,
  partitions: readonly number[],
  level: number,
  after: RangeCursor | undefined,
  call: Call,
): Promise<StreamResponse> {
  const req = encodeStreamRequest({
    ranges: partitions.map((index) => ({ level, index })),
    recordsMax: env.limits.streamPageRecordsMax,
    bytesMax: env.limits.streamPageBytesMax,
    ...(after === undefined ? {} : { after }),
  });
  const body = await call(req);
  run.counts.bytesSent += req.length;
  run.counts.roundTrips += 1;
  return decodeStreamResponse(body);
}

/**
 * Throttles and applies one page in one storage batch, through merge. Records of partitions this session
 * does not bring, and tombstones under the purge bound, are dropped (counted) as on the ordinary path.
 */
async function applyPage(
  env: SessionEnv,
  run: SessionRun,
  records: readonly VersionedRecord[],
  signal: AbortSignal,
): Promise<void> {
  const bytes = recordBytes(records);
  run.counts.bytesReceived += bytes;
  await env.throttle.take(0, bytes, signal);
  await (env.streamThrottle ?? env.throttle).take(records.length, 0, signal);
  // Foreground requests go first: the page is applied once the event loop has drained what is waiting.
  await env.timers.sleep(0, signal);
  if (signal.aborted) throw signal.reason;
  const t = env.topology();
  const kept: VersionedRecord[] = [];
  let notOwned = 0;
  for (const r of records) {
    const token = tokenOf(r.key);
    const p = t.partitionOf(token);
    if (run.range.receiving?.has(p) !== true && !t.holds(env.id, p)) notOwned += 1;
    else if (!env.replica.underPurgeBound(r, 'anti-entropy', token)) kept.push(r);
  }
  if (notOwned > 0) env.metrics.notOwned(notOwned);
  // Merged a slice at a time, the foreground served between slices: merging a whole page at once held the
  // event loop for 50-150 ms on a loaded machine (BENCHMARKS.md, join). The slices are staged one after the
  // other and join the storage's next write batch; the page counts as applied once all are durable.
  const writes: Promise<{ applied: number }>[] = [];
  for (let i = 0; i < kept.length; i += applySliceRecords) {
    if (i > 0) await env.timers.sleep(0, signal);
    const write = env.replica.apply(kept.slice(i, i + applySliceRecords), 'anti-entropy');
    // Awaited below; a cancellation between slices leaves the earlier ones behind, handled.
    write.catch(logFailure('stream apply slice', 'debug'));
    writes.push(write);
  }
  let applied = 0;
  for (const w of await Promise.all(writes)) applied += w.applied;
  run.counts.keysDivergent += applied;
  run.counts.keysPulled += applied;
  env.metrics.repaired('pull', applied, bytes);
}

/** Records of a page merged in one go on the new owner (one event-loop turn). */
const applySliceRecords = 512;

/** Records a source reads per step of a page: between steps it checks the page's time bound. */
const answerStepRecords = 256;

/**
 * A source's page: every record under the ranges in token order, after the cursor, until the records or
 * bytes bound is reached, or the page has held the event loop for `busyMsMax` (foreground requests queue
 * behind it; the new owner asks for the rest next). Read a step at a time, each resumed from the last cursor.
 */
export function answerStreamPage(
  reader: Pick<ReplicaReader, 'scanTokens'>,
  req: StreamRequest,
  busyMsMax: number,
  busyNow: () => number,
): StreamResponse {
  const startedMs = busyNow();
  const records: VersionedRecord[] = [];
  let bytes = 0;
  let processed = 0;
  let after = req.after;
  while (processed < req.ranges.length) {
    const step = answerRangeFetch(
      reader,
      {
        ranges: req.ranges.slice(processed),
        recordsMax: Math.min(answerStepRecords, req.recordsMax - records.length),
        ...(after === undefined ? {} : { after }),
      },
      req.bytesMax - bytes,
    );
    for (const r of step.records) {
      records.push(r);
      bytes += recordWireBytes(r);
    }
    processed += step.processed;
    after = step.next;
    const full = records.length >= req.recordsMax || bytes >= req.bytesMax;
    if (full || busyNow() - startedMs >= busyMsMax) break;
  }
  return after === undefined ? { processed, records } : { processed, next: after, records };
}
