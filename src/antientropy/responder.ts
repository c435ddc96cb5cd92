// The peer side of anti-entropy: the internal routes a node answers. Reconciliation itself is stateless
// (core responder); begin/end only coordinate the one-session-per-pair rule and exchange watermarks.

import { decodeJson, encodeJson } from '../cluster/codec.js';
import type { ConvergeNode } from '../cluster/node.js';
import { ConvergeError } from '../core/errors.js';
import { repairResponderLimitsDefault, respond } from '../core/reconcile-driver.js';
import { isPurgedTombstone, type VersionedRecord } from '../core/record.js';
import { MessageType, peekType } from '../core/wire.js';
import { decodeRangeFetchRequest, encodePushResponse } from '../core/wire-repair.js';
import type { LocalReplica } from '../replica/replica.js';
import type { ApplyResult } from '../replica/types.js';
import type { SessionRunner } from './runner.js';
import type { PullOffload, RangeFetchOffload } from './serve-offload.js';
import { busyClock } from './session-env.js';
import type { SessionHistoryEntry } from './types.js';
import type { Watermark } from './watermark.js';

interface BeginMessage {
  id: string;
  watermarkMs: number | null;
  /** The initiator's tombstone purge bound (absent from older nodes). */
  purgedBeforeMs?: number;
}

interface EndMessage {
  entry: SessionHistoryEntry;
  watermarkMs: number | null;
}

/** Applies the records `wanted` keeps; those it drops count as ignored. */
async function applyWanted(
  replica: LocalReplica,
  records: readonly VersionedRecord[],
  wanted: (r: VersionedRecord) => boolean,
): Promise<ApplyResult> {
  const kept = records.filter(wanted);
  const res = kept.length === 0 ? { applied: 0, ignored: 0 } : await replica.apply(kept, 'anti-entropy');
  return { applied: res.applied, ignored: res.ignored + records.length - kept.length };
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

export function registerResponder(
  node: ConvergeNode,
  replica: LocalReplica,
  runner: SessionRunner,
  watermark: Watermark,
  offload?: RangeFetchOffload,
  pull?: PullOffload,
): void {
  const requirePeer = (from: string | undefined): string => {
    if (from === undefined || !runner.knows(from))
      throw new ConvergeError('FORBIDDEN', `anti-entropy only with known peers (got ${from ?? 'none'})`);
    return from;
  };
  node.registerInternal('ae/begin', async (_route, body, from) => {
    const peer = requirePeer(from);
    const msg = parse<BeginMessage>(body, ['id', 'watermarkMs']);
    runner.acceptIncoming(peer, msg.id);
    watermark.heard(peer, typeof msg.watermarkMs === 'number' ? msg.watermarkMs : null);
    if (typeof msg.purgedBeforeMs === 'number') await runner.env.adoptPurgeBound?.(msg.purgedBeforeMs);
    return encodeJson({
      watermarkMs: watermark.local(),
      digestReady: replica.digestReady,
      purgedBeforeMs: runner.env.purgedBeforeMs(),
    });
  });
  // A preview compares under the larger of the two bounds, as the session it previews would.
  node.registerInternal('ae/purge-bound', async (_route, _body, from) => {
    requirePeer(from);
    return encodeJson({ purgedBeforeMs: runner.env.purgedBeforeMs() });
  });
  // The same bound as this node's own round requests: one answer never holds the event loop for long.
  const limits = {
    ...repairResponderLimitsDefault,
    responseBytesMax: runner.env.limits.roundBytesMax,
    roundBusyMsMax: runner.env.limits.roundBusyMsMax,
    busyNow: busyClock(runner.env),
  };
  // A tombstone older than this node's purge bound is garbage everywhere: a peer whose own bound lags may
  // still push it, but it is not written again (as when this node pulls).
  const wanted = (r: VersionedRecord): boolean => !isPurgedTombstone(r, runner.env.purgedBeforeMs());
  node.registerInternal('ae/msg', async (_route, body, from) => {
    const peer = requirePeer(from);
    runner.touchIncoming(peer);
    if (!replica.digestReady) throw new ConvergeError('UNAVAILABLE', 'digest is still being rebuilt');
    if (offload !== undefined && peekType(body) === MessageType.rangeFetchRequest) {
      // Validated here, so a malformed request gets its protocol error whether or not the worker answers.
      decodeRangeFetchRequest(body);
      const out = await offload.answer(body);
      if (out !== undefined) return out;
    }
    if (pull !== undefined && peekType(body) === MessageType.pushRequest) {
      // Decoded and merged against storage by the worker; staged and written here.
      const got = await pull.preparePush(body);
      if (got !== undefined)
        return encodePushResponse(await replica.applyPrepared(got.prepared, 'anti-entropy', wanted));
    }
    return respond(replica, (records) => applyWanted(replica, records, wanted), body, limits);
  });
  node.registerInternal('ae/end', async (_route, body, from) => {
    const peer = requirePeer(from);
    const msg = parse<EndMessage>(body, ['entry', 'watermarkMs']);
    watermark.heard(peer, typeof msg.watermarkMs === 'number' ? msg.watermarkMs : null);
    await runner.finishIncoming(peer, msg.entry);
    return encodeJson({ watermarkMs: watermark.local() });
  });
}
