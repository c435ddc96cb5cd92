// The bulk path of the reconcile benchmark: an empty initiator repairs from a full peer. Discovery (the tree,
// one round trip) then the range fetches a session sends (`pullRanges` without a worker: encoded by the
// responder, decoded by the initiator, in the session's batch sizes), against sending the full list of
// (key, version) in the same run. Records are decoded, not applied: committing them costs the same whatever
// found them.

import { sessionLimitsDefault } from '../src/antientropy/session-env.js';
import { respond } from '../src/core/reconcile-driver.js';
import type { Difference } from '../src/core/reconcile-types.js';
import { Reconciler, reconcilerOptionsDefault } from '../src/core/reconciler.js';
import { roundItemsMax } from '../src/core/wire.js';
import {
  decodeFetchResponse,
  decodeRangeFetchResponse,
  encodeFetchRequest,
  encodeRangeFetchRequest,
  type RangeCursor,
} from '../src/core/wire-repair.js';
import type { LocalReplica } from '../src/replica/replica.js';

export interface BulkResult {
  bytes: number;
  roundTrips: number;
  ms: number;
  records: number;
}

const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });

/**
 * An empty (or far-behind) `initiator` finds what it lacks and fetches the peer's whole ranges, as a session
 * does with `recordsMax` records per fetch.
 */
export async function bulkPull(
  initiator: LocalReplica,
  peer: LocalReplica,
  recordsMax: number = sessionLimitsDefault.repairBatchRecordsMax,
): Promise<BulkResult> {
  const start = performance.now();
  const exchange = (req: Uint8Array): Promise<Uint8Array> => respond(peer, noApply, req);
  const rec = new Reconciler(initiator, { ...reconcilerOptionsDefault, salt: 0x5eed });
  const diffs: Difference[] = [];
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest())
    diffs.push(...rec.onResponse(await exchange(req)));
  let bytes = rec.stats.bytesSent + rec.stats.bytesReceived;
  let roundTrips = rec.stats.roundTrips;
  const ranges = diffs.flatMap((d) =>
    d.kind === 'remote-range' ? [{ level: d.level, index: d.index }] : [],
  );
  const perRequest = Math.min(roundItemsMax, Math.floor(sessionLimitsDefault.roundBytesMax / 5));
  let records = diffs.filter((d) => d.kind === 'key').length;
  let from = 0;
  let after: RangeCursor | undefined;
  while (from < ranges.length) {
    const req = encodeRangeFetchRequest({
      ranges: ranges.slice(from, from + perRequest),
      recordsMax,
      ...(after === undefined ? {} : { after }),
    });
    const body = await exchange(req);
    const res = decodeRangeFetchResponse(body);
    bytes += req.length + body.length;
    roundTrips += 1;
    records += res.records.length;
    from += res.processed;
    after = res.next;
  }
  return { bytes, roundTrips, ms: performance.now() - start, records };
}

/**
 * The full-list protocol carried to the end: the peer's list of (key, version) walked against the initiator's
 * records (none), then every key it lacks fetched in batches of `recordsMax` (one read per key on the peer).
 */
export async function fullListThenRecords(
  initiator: LocalReplica,
  peer: LocalReplica,
  recordsMax: number = sessionLimitsDefault.repairBatchRecordsMax,
): Promise<BulkResult> {
  const start = performance.now();
  let bytes = 0;
  const missing: Uint8Array[] = [];
  for (const { record } of peer.scanTokens(new Uint8Array(8), undefined)) {
    // What the list carries per record: a length-prefixed key and the encoded version.
    bytes += 2 + record.key.length + 17;
    if (initiator.get(record.key) === undefined) missing.push(record.key);
  }
  let roundTrips = 1;
  let records = 0;
  for (let i = 0; i < missing.length; ) {
    const req = encodeFetchRequest({ keys: missing.slice(i, i + recordsMax) });
    const body = await respond(peer, noApply, req);
    const res = decodeFetchResponse(body);
    bytes += req.length + body.length;
    roundTrips += 1;
    records += res.records.length;
    i += res.processed;
  }
  return { bytes, roundTrips, ms: performance.now() - start, records };
}
