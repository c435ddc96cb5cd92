// Repair's bulk work off the event loop, in a worker thread (repair-worker-thread.ts) at the lowest OS priority, so
// that repair takes the CPU that foreground work leaves idle. On the event loop that also coordinates
// foreground writes, this work queued them behind it. The worker:
// - answers a lagging peer's range fetches (the event loop validates the request and passes bytes through);
// - reads and encodes pushes of whole ranges a peer lacks;
// - decodes the records this node pulls or is pushed and merges them against its snapshot of storage
//   (replica/prepared.ts), so the event loop only stages and writes the winners.
//
// The worker reads committed records through its own handle on the node's lmdb environment. A record staged
// but not yet committed (milliseconds, in the pending-write overlay) is not in what it serves or pushes; the
// peer's digest still differs there afterwards, and a later session brings it. If the worker fails or exits,
// every request resolves undefined and the node does the work on its event loop again, as with
// --no-ae-serve-worker.

import { Worker } from 'node:worker_threads';
import { ConvergeError, type ErrorCode } from '../core/errors.js';
import type { RangeCursor } from '../core/wire-repair.js';
import type { PreparedRecords } from '../replica/prepared.js';
import type { ReaderSpec } from '../storage/storage.js';

/** A peer's answer to a range fetch, decoded and merged against storage by the worker. */
export interface PreparedRange {
  readonly processed: number;
  readonly next?: RangeCursor;
  /** Records in the answer, and their bytes as the session counts them. */
  readonly records: number;
  readonly bytes: number;
  readonly prepared: PreparedRecords;
}

/** A push of this node's records under ranges a peer lacks, read and encoded by the worker. */
export interface PushBody {
  /** Ranges finished; `next` is where the one after them continues. */
  readonly processed: number;
  readonly next?: RangeCursor;
  readonly records: number;
  /** The encoded push request. */
  readonly body: Uint8Array;
}

/** A peer's push, decoded and merged against storage by the worker. */
export interface PreparedPush {
  readonly records: number;
  readonly prepared: PreparedRecords;
}

/** Prepares pulled records off the event loop (the session's side of the worker). */
export interface RepairWorkerTasks {
  /**
   * Decodes a range-fetch answer and merges its records against committed storage; undefined once the
   * worker is gone (decode it yourself). A malformed answer rejects with the protocol error the event loop
   * would raise.
   */
  prepareRange(body: Uint8Array): Promise<PreparedRange | undefined>;
  /** Decodes a peer's push and merges it against committed storage; undefined once the worker is gone. */
  preparePush(body: Uint8Array): Promise<PreparedPush | undefined>;
  /**
   * Reads up to `recordsMax` committed records under `ranges` (from `after` on) and encodes them as a push;
   * undefined once the worker is gone. Records staged but not committed yet are left for a later session.
   */
  pushBody(
    ranges: ReadonlyArray<{ level: number; index: number }>,
    after: RangeCursor | undefined,
    recordsMax: number,
  ): Promise<PushBody | undefined>;
}

export interface RepairWorkerThread {
  /** The encoded answer to a valid range fetch, or undefined once the worker is gone (answer it yourself). */
  answer(body: Uint8Array): Promise<Uint8Array | undefined>;
  /** The worker thread's OS priority (nice) as it reported it; null before that or where it cannot be set. */
  nice(): number | null;
  /** False once the worker failed or was closed. */
  running(): boolean;
  close(): Promise<void>;
}

export interface RepairWorkerOptions {
  /** Where the thread opens its own reader on the node's store (Storage.readerSpec). */
  readonly reader: ReaderSpec;
  /** Bytes of records one answer may hold (the event loop's own answers use the same bound). */
  readonly responseBytesMax: number;
  /** Told once when the worker fails; its work is done on the event loop from then on. */
  readonly onFailure?: (err: Error) => void;
  /** The replica's shared write epochs: with them the worker also prepares pulled records. */
  readonly writeEpochs?: Uint32Array;
}

type Reply =
  | { readonly kind: 'ready'; readonly nice: number | null }
  | { readonly kind: 'answer'; readonly id: number; readonly out: Uint8Array }
  | ({ readonly kind: 'prepared'; readonly id: number } & PreparedRange)
  | ({ readonly kind: 'prepared-push'; readonly id: number } & PreparedPush)
  | ({ readonly kind: 'push-body'; readonly id: number } & PushBody)
  | { readonly kind: 'error'; readonly id: number; readonly code: ErrorCode; readonly message: string };

/** The repair worker thread: it serves range fetches and does the tasks. */
export type RepairWorker = RepairWorkerThread & RepairWorkerTasks;

/**
 * The repair worker as anti-entropy takes it: the thread, or the tasks alone (the simulator's stand-in, which
 * serves no range fetches).
 */
export type RepairWorkerHandle = RepairWorkerTasks & Partial<RepairWorkerThread>;

export function startRepairWorker(options: RepairWorkerOptions): RepairWorker {
  const worker = spawnThread(options);
  // Each caller's resolve takes its own answer type, or undefined when the worker is gone.
  const pending = new Map<number, { resolve: (out: unknown) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  let nice: number | null = null;
  let gone = false;
  let closing = false;
  // Terminating the thread while lmdb's native open runs in it aborts the whole process (napi_throw): close()
  // waits until the thread said it is ready, or is gone, first.
  let started: () => void = () => {};
  const startedOrGone = new Promise<void>((resolve) => {
    started = resolve;
  });
  const fail = (err: Error): void => {
    started();
    if (gone) return;
    gone = true;
    for (const p of pending.values()) p.resolve(undefined);
    pending.clear();
    if (!closing) options.onFailure?.(err);
  };
  worker.on('message', (m: Reply) => {
    if (m.kind === 'ready') {
      nice = m.nice;
      started();
    } else settle(pending, m);
  });
  worker.on('error', (err) => fail(err));
  worker.on('exit', (code) => fail(new Error(`the repair worker exited with code ${code}`)));
  const ask = <T>(message: Record<string, unknown>): Promise<T | undefined> => {
    if (gone) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (out: unknown) => void, reject });
      worker.postMessage({ ...message, id });
    });
  };
  const prepares = options.writeEpochs !== undefined;
  return {
    answer: (body) => ask<Uint8Array>({ kind: 'answer', body }),
    prepareRange: (body) =>
      prepares ? ask<PreparedRange>({ kind: 'prepare', body }) : Promise.resolve(undefined),
    preparePush: (body) =>
      prepares ? ask<PreparedPush>({ kind: 'prepare-push', body }) : Promise.resolve(undefined),
    pushBody: (ranges, after, recordsMax) =>
      ask<PushBody>({ kind: 'push-body', ranges, recordsMax, ...(after === undefined ? {} : { after }) }),
    nice: () => nice,
    running: () => !gone,
    close: async () => {
      closing = true;
      await untilOrAfter(startedOrGone, workerStartWaitMsMax);
      await worker.terminate();
    },
  };
}

/** How long close() waits for a thread still starting (opening its storage) before terminating it anyway. */
const workerStartWaitMsMax = 10_000;

/** Resolves when `p` does, or after `ms` (a timer that does not hold the process open). */
function untilOrAfter(p: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void p.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The thread, unreferenced (an idle worker does not keep the process alive; close() ends it on shutdown).
 * From the TypeScript sources a small .mjs starts it through tsx; bundled, repair-worker-thread.mjs sits
 * beside the bundle.
 */
function spawnThread(options: RepairWorkerOptions): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const worker = new Worker(
    new URL(fromSources ? './repair-worker-boot.mjs' : './repair-worker-thread.mjs', import.meta.url),
    {
      workerData: {
        reader: options.reader,
        responseBytesMax: options.responseBytesMax,
        ...(options.writeEpochs === undefined ? {} : { writeEpochs: options.writeEpochs }),
      },
    },
  );
  worker.unref();
  return worker;
}

/** Resolves (or rejects) the request a reply answers. */
function settle(
  pending: Map<number, { resolve: (out: unknown) => void; reject: (err: Error) => void }>,
  m: Exclude<Reply, { kind: 'ready' }>,
): void {
  const p = pending.get(m.id);
  pending.delete(m.id);
  if (p === undefined) return;
  if (m.kind === 'answer') p.resolve(m.out);
  else if (m.kind === 'error') p.reject(new ConvergeError(m.code, m.message));
  else {
    const { kind: _kind, id: _id, ...answer } = m;
    p.resolve(answer);
  }
}
