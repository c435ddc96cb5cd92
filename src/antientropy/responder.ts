// The peer side of anti-entropy: the internal routes a node answers. Reconciliation itself is stateless
// (core responder); begin/end only coordinate the one-session-per-pair rule and exchange watermarks.

import { decodeJson, encodeJson } from '../cluster/codec.js';
import type { InternalRouter } from '../cluster/transport.js';
import { ConvergeError } from '../core/errors.js';
import { repairResponderLimitsDefault, respond } from '../core/reconcile-driver.js';
import { MessageType, peekType } from '../core/wire.js';
import { decodeRangeFetchRequest, encodePushResponse } from '../core/wire-repair.js';
import type { LocalReplica } from '../replica/replica.js';
import type { RepairWorkerHandle } from './repair-worker.js';
import type { SessionRunner } from './runner.js';
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
  node: InternalRouter,
  replica: LocalReplica,
  runner: SessionRunner,
  watermark: Watermark,
  worker?: RepairWorkerHandle,
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
  // A peer whose purge bound lags may still push a tombstone under this node's: the replica does not write it.
  const apply = (records: Parameters<LocalReplica['apply']>[0]) => replica.apply(records, 'anti-entropy');
  node.registerInternal('ae/msg', async (_route, body, from) => {
    const peer = requirePeer(from);
    runner.touchIncoming(peer);
    if (!replica.digestReady) throw new ConvergeError('UNAVAILABLE', 'digest is still being rebuilt');
    if (worker?.answer !== undefined && peekType(body) === MessageType.rangeFetchRequest) {
      // Validated here, so a malformed request gets its protocol error whether or not the worker answers.
      decodeRangeFetchRequest(body);
      const out = await worker.answer(body);
      if (out !== undefined) return out;
    }
    if (worker !== undefined && peekType(body) === MessageType.pushRequest) {
      // Decoded and merged against storage by the worker; staged and written here.
      const got = await worker.preparePush(body);
      if (got !== undefined)
        return encodePushResponse(await replica.applyPrepared(got.prepared, 'anti-entropy'));
    }
    return respond(replica, apply, body, limits);
  });
  node.registerInternal('ae/end', async (_route, body, from) => {
    const peer = requirePeer(from);
    const msg = parse<EndMessage>(body, ['entry', 'watermarkMs']);
    watermark.heard(peer, typeof msg.watermarkMs === 'number' ? msg.watermarkMs : null);
    await runner.finishIncoming(peer, msg.entry);
    return encodeJson({ watermarkMs: watermark.local() });
  });
}
