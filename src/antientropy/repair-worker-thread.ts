// The worker thread of repair-worker.ts: lowers its own OS priority, opens the node's lmdb environment,
// answers range fetches and encodes pushes from the committed records, and prepares the records this node
// pulls or is pushed (repair-worker-tasks.ts, replica/prepared.ts).

import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ConvergeError } from '../core/errors.js';
import { answerRangeFetch } from '../core/reconcile-driver.js';
import { decodeRangeFetchRequest, encodeRangeFetchResponse, type RangeCursor } from '../core/wire-repair.js';
import { openStorageReader } from '../storage/engines.js';
import type { ReaderSpec } from '../storage/storage.js';
import {
  committedReader,
  preparePushRequest,
  prepareRangeAnswer,
  readPushBody,
} from './repair-worker-tasks.js';

const {
  reader: spec,
  responseBytesMax,
  writeEpochs,
} = workerData as {
  reader: ReaderSpec;
  responseBytesMax: number;
  /** The replica's write epochs, in shared memory; absent when this node does not offload pulls. */
  writeEpochs?: Uint32Array;
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

// The engine's second reader on the node's store (lmdb: the same environment, opened with the same flags).
const storage = openStorageReader(spec);
const reader = committedReader(storage);

type Request =
  | { readonly kind: 'answer'; readonly id: number; readonly body: Uint8Array }
  | { readonly kind: 'prepare'; readonly id: number; readonly body: Uint8Array }
  | { readonly kind: 'prepare-push'; readonly id: number; readonly body: Uint8Array }
  | {
      readonly kind: 'push-body';
      readonly id: number;
      readonly ranges: ReadonlyArray<{ level: number; index: number }>;
      readonly after?: RangeCursor;
      readonly recordsMax: number;
    };

port.on('message', (m: Request) => {
  try {
    if (m.kind === 'answer') {
      // Answers from the records committed by now: the node's event loop writes, this thread only reads.
      storage.renewReads();
      const out = encodeRangeFetchResponse(
        answerRangeFetch(reader, decodeRangeFetchRequest(m.body), responseBytesMax),
      );
      port.postMessage({ kind: 'answer', id: m.id, out });
      return;
    }
    if (m.kind === 'push-body') {
      // This node's records under ranges a peer lacks, encoded as the push that sends them.
      const out = readPushBody(storage, m.ranges, m.after, m.recordsMax, responseBytesMax);
      port.postMessage({ kind: 'push-body', id: m.id, ...out });
      return;
    }
    if (writeEpochs === undefined)
      throw new ConvergeError('INTERNAL', 'this worker was started without write epochs');
    if (m.kind === 'prepare-push') {
      // A peer pushing records this node lacks: decoded and merged against storage here.
      const out = preparePushRequest(storage, m.body, writeEpochs);
      port.postMessage({ kind: 'prepared-push', id: m.id, ...out }, [out.prepared.buf]);
      return;
    }
    // A peer's answer to this node's range fetch: decoded, checked and merged against storage here.
    const out = prepareRangeAnswer(storage, m.body, writeEpochs);
    port.postMessage({ kind: 'prepared', id: m.id, ...out }, [out.prepared.buf]);
  } catch (err) {
    const e =
      err instanceof ConvergeError
        ? err
        : new ConvergeError('INTERNAL', `the repair worker failed: ${String(err)}`);
    port.postMessage({ kind: 'error', id: m.id, code: e.code, message: e.message });
  }
});
port.postMessage({ kind: 'ready', nice: lowerOwnPriority() });
