// What the anti-entropy worker does with each request, apart from the thread that runs it: the worker thread
// (repair-worker-thread.ts) calls these, and so does the simulation's stand-in for it, so the simulator exercises the
// same preparing code against its faults.

import { answerRangeFetch } from '../core/reconcile-driver.js';
import type { ReplicaReader } from '../core/reconcile-types.js';
import {
  decodePushRequest,
  decodeRangeFetchResponse,
  encodePushRequest,
  type RangeCursor,
  recordBytes,
} from '../core/wire-repair.js';
import { Overlay, scanPageRecords, scanTokenRecords } from '../replica/overlay.js';
import { prepareRecords } from '../replica/prepared.js';
import type { Storage } from '../storage/storage.js';
import type { PreparedPush, PreparedRange, PushBody } from './repair-worker.js';

/** Committed storage, as the worker sees it: `renewReads` moves its snapshot to the latest commit. */
export type WorkerStorage = Pick<Storage, 'get' | 'scan'> & { renewReads?(): void };

export { recordBytes } from '../core/wire-repair.js';

/**
 * A peer's answer to a range fetch: decoded and merged against storage. Tombstones under the purge bound go
 * through too: the replica drops them when it applies the prepared records (its bound may move meanwhile).
 */
export function prepareRangeAnswer(
  storage: WorkerStorage,
  body: Uint8Array,
  epochs: Uint32Array,
): PreparedRange {
  const res = decodeRangeFetchResponse(body);
  return {
    processed: res.processed,
    ...(res.next === undefined ? {} : { next: res.next }),
    records: res.records.length,
    bytes: recordBytes(res.records),
    prepared: prepareRecords(storage, res.records, epochs),
  };
}

/** A peer's push: decoded and merged against storage. */
export function preparePushRequest(
  storage: WorkerStorage,
  body: Uint8Array,
  epochs: Uint32Array,
): PreparedPush {
  const records = decodePushRequest(body);
  return { records: records.length, prepared: prepareRecords(storage, records, epochs) };
}

/**
 * This node's committed records under `ranges` (from `after` on), at most `recordsMax`, encoded as a push.
 */
export function readPushBody(
  storage: WorkerStorage,
  ranges: ReadonlyArray<{ level: number; index: number }>,
  after: RangeCursor | undefined,
  recordsMax: number,
  bytesMax: number,
): PushBody {
  storage.renewReads?.();
  const res = answerRangeFetch(
    committedReader(storage),
    { ranges, recordsMax, ...(after === undefined ? {} : { after }) },
    bytesMax,
  );
  return {
    processed: res.processed,
    ...(res.next === undefined ? {} : { next: res.next }),
    records: res.records.length,
    body: encodePushRequest(res.records),
  };
}

const nothingPending = new Overlay();

/** Token scans of committed records only (the worker has no pending writes). */
export function committedReader(storage: WorkerStorage): Pick<ReplicaReader, 'scanTokens'> {
  return {
    scanTokens: (start, end, limit) =>
      scanTokenRecords(storage, nothingPending, start, end, scanPageRecords, limit),
  };
}
