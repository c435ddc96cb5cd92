// The anti-entropy worker in the simulation: the worker thread's own tasks (antientropy/repair-worker-tasks.ts),
// each run after a virtual delay and answered after another, on the node's scheduler. The node's event loop
// meanwhile stages and commits other writes, as it does beside the thread, so the simulator's faults meet the
// prepared path: decisions taken against an older snapshot, writes staged or committed in between, crashes
// mid-way.

import type { RepairWorkerTasks } from '../antientropy/repair-worker.js';
import {
  preparePushRequest,
  prepareRangeAnswer,
  readPushBody,
  type WorkerStorage,
} from '../antientropy/repair-worker-tasks.js';

export function simWorker(
  storage: WorkerStorage,
  epochs: Uint32Array,
  delay: () => Promise<void>,
  bytesMax: number,
): RepairWorkerTasks {
  const run = async <T>(task: () => T): Promise<T> => {
    await delay();
    const out = task();
    await delay();
    return out;
  };
  return {
    prepareRange: (body) => run(() => prepareRangeAnswer(storage, body, epochs)),
    preparePush: (body) => run(() => preparePushRequest(storage, body, epochs)),
    pushBody: (ranges, after, recordsMax) =>
      run(() => readPushBody(storage, ranges, after, recordsMax, bytesMax)),
  };
}
