// The peer side of anti-entropy: the internal routes a node answers. Reconciliation itself is stateless
// (core responder); begin/end only coordinate the one-session-per-pair rule and exchange watermarks.

import { decodeJson, encodeJson } from '../cluster/codec.js';
import type { InternalRouter } from '../cluster/transport.js';
import { ConvergeError } from '../core/errors.js';
import { tokenOf } from '../core/hash.js';
import { repairResponderLimitsDefault, respond } from '../core/reconcile-driver.js';
import type { VersionedRecord } from '../core/record.js';
import { MessageType, peekType } from '../core/wire.js';
import { decodeRangeFetchRequest, encodePushResponse } from '../core/wire-repair.js';
import { decodeStreamRequest, encodeStreamResponse, StreamMessageType } from '../core/wire-stream.js';
import type { LocalReplica } from '../replica/replica.js';
import type { ApplyResult } from '../replica/types.js';
import type { RepairWorkerHandle } from './repair-worker.js';
import { boundRuns } from './ring.js';
import type { SessionRunner } from './runner.js';
import { busyClock } from './session-env.js';
import { answerStreamPage } from './stream-session.js';
import type { SessionHistoryEntry } from './types.js';
import type { Watermark } from './watermark.js';

interface BeginMessage {
  id: string;
  watermarkMs: number | null;
  /** The initiator's last successful session start with each of its peers (absent from older nodes). */
  pairStartsMs?: Record<string, number | null>;
  /** The initiator's tombstone purge bound: the lowest of the shared partitions' (absent from older nodes). */
  purgedBeforeMs?: number;
  /** Its bound per shared partition as runs [first, last, ms] (absent from older nodes). */
  purgeBoundsMs?: Array<[number, number, number]>;
  /** A membership change's streaming session: the partitions it covers (runner.ts). */
  streaming?: number[];
  /** Partitions whose record counts the initiator asks for (its streaming fast path, stream-session.ts). */
  countsOf?: number[];
}

interface EndMessage {
  entry: SessionHistoryEntry;
  watermarkMs: number | null;
  pairStartsMs?: Record<string, number | null>;
}

function parse<T>(body: Uint8Array, fields: string[]): T {
  const msg = decodeJson(body) as Record<string, unknown> | null;
  if (msg === null || typeof msg !== 'object' || fields.some((f) => !(f in msg))) {
    throw new ConvergeError(
      'PROTOCOL_INVALID',
      `malformed anti-entropy message: expected ${fields.join(', ')}`,
    );
  }
  return msg as T;
}

/**
 * A streaming session's partitions as this node counts their records (its digest): the new owner copies whole
 * only the partitions it holds much less of (stream-session.ts).
 */
function streamCounts(replica: LocalReplica, runner: SessionRunner, partitions: unknown[]): number[] {
  const t = runner.env.topology();
  return partitions.map((p) =>
    Number.isInteger(p) && (p as number) >= 0 && (p as number) < t.partitions
      ? replica.digest.node(t.partitionBits, p as number).count
      : 0,
  );
}

/** The partitions whose counts the initiator asks for: named, or a streaming session's own. */
function countsAsked(msg: BeginMessage, streaming: boolean): unknown[] | undefined {
  return Array.isArray(msg.countsOf) ? msg.countsOf : streaming ? msg.streaming : undefined;
}

/** The responder's answer to ae/begin: its watermark inputs and purge bounds for the shared partitions. */
function beginAnswer(
  replica: LocalReplica,
  runner: SessionRunner,
  watermark: Watermark,
  peer: string,
  streaming: unknown[] | undefined,
): Record<string, unknown> {
  const shared = runner.rangeWith(peer).partitions;
  const t = runner.env.topology();
  const boundOf = (p: number): number => runner.env.purgedBeforeMs(t.partitionRange(p).start);
  return {
    watermarkMs: watermark.local(),
    pairStartsMs: watermark.pairStarts(),
    digestReady: replica.digestReady,
    purgedBeforeMs: shared.length === 0 ? runner.env.purgedBeforeMs() : Math.min(...shared.map(boundOf)),
    purgeBoundsMs: boundRuns(shared, boundOf),
    ...(streaming === undefined ? {} : { streamCounts: streamCounts(replica, runner, streaming) }),
  };
}

/**
 * Which pushed records this node writes. A tombstone older than its partition's purge bound is garbage
 * everywhere: a peer whose own bound lags may still push it, but it is not written again (as when this node
 * pulls). A record of a partition this node does not hold is never written here: a session only covers
 * shared partitions, so one is a peer's bug (or a ring it changed since), dropped and counted.
 */
function wantedPushes(runner: SessionRunner): (r: VersionedRecord) => boolean {
  return (r) => {
    const token = tokenOf(r.key);
    const t = runner.env.topology();
    if (t.holds(runner.env.id, t.partitionOf(token))) return true;
    runner.env.metrics.notOwned(1);
    return false;
  };
}

/** Whether this node holds every partition (RF = N): then no pushed record can fall outside its share. */
function holdsAll(runner: SessionRunner): boolean {
  const t = runner.env.topology();
  return t.ownedBy(runner.env.id).length === t.partitions;
}

/**
 * A page of the streaming fast path (stream-session.ts): every record under the ranges in token order, within
 * the peer's bounds and this node's own. A node with the fast path off answers as one that does not know it.
 */
function answerStream(runner: SessionRunner, replica: LocalReplica, body: Uint8Array): Uint8Array {
  const { streamPageRecordsMax, streamPageBytesMax, streamPageBusyMsMax } = runner.env.limits;
  if (streamPageRecordsMax === 0)
    throw new ConvergeError('PROTOCOL_INVALID', 'the streaming fast path is off on this node');
  const req = decodeStreamRequest(body);
  const bounded = {
    ...req,
    recordsMax: Math.min(req.recordsMax, streamPageRecordsMax),
    bytesMax: Math.min(req.bytesMax, streamPageBytesMax),
  };
  return encodeStreamResponse(answerStreamPage(replica, bounded, streamPageBusyMsMax, busyClock(runner.env)));
}

/** The peer a request comes from: a ring peer, or a node running a streaming session with this one. */
function requirePeer(runner: SessionRunner, from: string | undefined): string {
  if (from === undefined || !(runner.knows(from) || runner.streamingFrom(from)))
    throw new ConvergeError('FORBIDDEN', `anti-entropy only with known peers (got ${from ?? 'none'})`);
  return from;
}

export function registerResponder(
  node: InternalRouter,
  replica: LocalReplica,
  runner: SessionRunner,
  watermark: Watermark,
  worker?: RepairWorkerHandle,
  admitsStreaming: (peer: string) => boolean = () => false,
): void {
  node.registerInternal('ae/begin', async (_route, body, from) => {
    const msg = parse<BeginMessage>(body, ['id', 'watermarkMs']);
    // A new owner streaming a membership change's partitions may share nothing with this node yet.
    const streaming = Array.isArray(msg.streaming) && from !== undefined && admitsStreaming(from);
    const peer = streaming ? from! : requirePeer(runner, from);
    runner.acceptIncoming(peer, msg.id, streaming);
    watermark.heard(peer, msg);
    if (typeof msg.purgedBeforeMs === 'number')
      await runner.env.adoptPurgeBound?.(msg.purgedBeforeMs, peer, msg);
    return encodeJson(beginAnswer(replica, runner, watermark, peer, countsAsked(msg, streaming)));
  });
  // A preview compares under the larger of the two bounds, as the session it previews would.
  node.registerInternal('ae/purge-bound', async (_route, _body, from) => {
    requirePeer(runner, from);
    return encodeJson({ purgedBeforeMs: runner.env.purgedBeforeMs() });
  });
  // The same bound as this node's own round requests: one answer never holds the event loop for long.
  const limits = {
    ...repairResponderLimitsDefault,
    responseBytesMax: runner.env.limits.roundBytesMax,
    roundBusyMsMax: runner.env.limits.roundBusyMsMax,
    busyNow: busyClock(runner.env),
  };
  // Records of partitions this node does not hold are dropped and counted here; the replica does not write a
  // tombstone under its purge bound (a peer whose bound lags may still push one).
  const wanted = wantedPushes(runner);
  const apply = async (records: readonly VersionedRecord[]): Promise<ApplyResult> => {
    const kept = records.filter(wanted);
    const res = kept.length === 0 ? { applied: 0, ignored: 0 } : await replica.apply(kept, 'anti-entropy');
    return { ...res, ignored: res.ignored + records.length - kept.length };
  };
  node.registerInternal('ae/msg', async (_route, body, from) => {
    const peer = requirePeer(runner, from);
    runner.touchIncoming(peer);
    if (!replica.digestReady) throw new ConvergeError('UNAVAILABLE', 'digest is still being rebuilt');
    // Streaming pages, and a streaming peer's fetches, skip the niced worker (it starves on a busy machine).
    if (peekType(body) === StreamMessageType.streamRequest) return answerStream(runner, replica, body);
    const viaWorker = !runner.streamingFrom(peer);
    if (viaWorker && worker?.answer !== undefined && peekType(body) === MessageType.rangeFetchRequest) {
      // Validated here, so a malformed request gets its protocol error whether or not the worker answers.
      decodeRangeFetchRequest(body);
      const out = await worker.answer(body);
      if (out !== undefined) return out;
    }
    // The worker writes what it decodes; it knows nothing of the ring, so it takes pushes only while this node
    // holds every partition.
    if (worker !== undefined && peekType(body) === MessageType.pushRequest && holdsAll(runner)) {
      // Decoded and merged against storage by the worker; staged and written here.
      const got = await worker.preparePush(body);
      if (got !== undefined)
        return encodePushResponse(await replica.applyPrepared(got.prepared, 'anti-entropy'));
    }
    return respond(replica, apply, body, limits);
  });
  node.registerInternal('ae/end', async (_route, body, from) => {
    const peer = requirePeer(runner, from);
    const msg = parse<EndMessage>(body, ['entry', 'watermarkMs']);
    watermark.heard(peer, msg);
    await runner.finishIncoming(peer, msg.entry);
    return encodeJson({ watermarkMs: watermark.local(), pairStartsMs: watermark.pairStarts() });
  });
}
