// The worker thread of serve-offload.ts: lowers its own OS priority, opens the node's lmdb environment, and
// answers range fetches from the committed records.

import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ConvergeError } from '../core/errors.js';
import { answerRangeFetch } from '../core/reconcile-driver.js';
import type { ReplicaReader } from '../core/reconcile-types.js';
import { decodeRangeFetchRequest, encodeRangeFetchResponse } from '../core/wire-repair.js';
import { Overlay, scanPageRecords, scanTokenRecords } from '../replica/overlay.js';
import { openLmdbStorage } from '../storage/lmdb.js';
import type { SyncPolicy } from '../storage/storage.js';

const { dataDir, sync, responseBytesMax } = workerData as {
  dataDir: string;
  sync: SyncPolicy;
  responseBytesMax: number;
};
const port = parentPort!;

/** Linux gives every thread its own nice value; elsewhere this thread keeps the process's priority. */
function lowerOwnPriority(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, 19);
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  } catch {
    return null;
  }
}

// Opened with the node's own sync policy: lmdb refuses a second handle on the environment with other flags.
const storage = openLmdbStorage({ path: dataDir, sync });
const nothingPending = new Overlay();
const reader: Pick<ReplicaReader, 'scanTokens'> = {
  scanTokens: (start, end, limit) =>
    scanTokenRecords(storage, nothingPending, start, end, scanPageRecords, limit),
};

port.on('message', ({ id, body }: { id: number; body: Uint8Array }) => {
  try {
    // Answers from the records committed by now: the node's event loop writes, this thread only reads.
    storage.renewReads();
    const out = encodeRangeFetchResponse(
      answerRangeFetch(reader, decodeRangeFetchRequest(body), responseBytesMax),
    );
    port.postMessage({ kind: 'answer', id, out });
  } catch (err) {
    const e =
      err instanceof ConvergeError
        ? err
        : new ConvergeError('INTERNAL', `range fetch failed in the worker: ${String(err)}`);
    port.postMessage({ kind: 'error', id, code: e.code, message: e.message });
  }
});
port.postMessage({ kind: 'ready', nice: lowerOwnPriority() });
