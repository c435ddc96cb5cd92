// The default engine: LMDB through lmdb-js. Writes go through lmdb-js's asynchronous batched transactions
// (all writes issued in one event-loop turn share a transaction), which is what makes group commit cheap.
// The sync policy decides what a resolved write promises: see docs/operations.md. A failed commit (a full
// disk) rejects the write that asked for it and nothing else: lmdb-js's event-turn batch, whose promise
// nobody awaits, is switched off, and the detailed error lmdb-js hands out as a second promise is read here.

import { mkdirSync, statfsSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import { ConvergeError } from '../core/errors.js';
import type { ReaderSpec, Storage, StorageEntry, SyncPolicy, WriteOp } from './storage.js';

export interface LmdbOptions {
  readonly path: string;
  readonly sync: SyncPolicy;
  /** Upper bound of the memory map, i.e. of the database size. */
  readonly mapSizeBytes?: number;
  /** A failed commit with less free space than this on the data's filesystem is reported as DISK_FULL. */
  readonly diskFreeBytesLow?: number;
}

export const lmdbMapSizeBytesDefault = 64 * 2 ** 30;
export const diskFreeBytesLowDefault = 16 * 2 ** 20;

export function openLmdbStorage(options: LmdbOptions): LmdbStorage {
  mkdirSync(options.path, { recursive: true });
  let db: RootDatabase<Buffer, Buffer>;
  try {
    db = open<Buffer, Buffer>({
      path: options.path,
      encoding: 'binary',
      keyEncoding: 'binary',
      mapSize: options.mapSizeBytes ?? lmdbMapSizeBytesDefault,
      // `none`: commits reach the OS page cache (they survive a process crash) but are never fsynced.
      noSync: options.sync === 'none',
      // `always` waits for each transaction's own flush; `group` lets flushes overlap later commits.
      overlappingSync: options.sync === 'group',
      // Writes issued in one event turn would share a batch whose own promise lmdb-js never hands out: a
      // failed commit rejects it unhandled and kills the process. The replica batches its writes itself.
      eventTurnBatching: false,
    } as Parameters<typeof open>[0]);
  } catch (err) {
    throw new ConvergeError(
      'STORAGE_FAILED',
      `cannot open lmdb at ${options.path}: ${(err as Error).message}`,
    );
  }
  return new LmdbStorage(db, options.sync, options.path, options.diskFreeBytesLow ?? diskFreeBytesLowDefault);
}

export class LmdbStorage implements Storage {
  readonly engine = 'lmdb';
  private closed = false;

  constructor(
    private readonly db: RootDatabase<Buffer, Buffer>,
    private readonly sync: SyncPolicy,
    private readonly path: string,
    private readonly diskFreeBytesLow: number,
  ) {}

  /** A reader in another thread opens the same environment, with the same flags (lmdb requires it). */
  readerSpec(): ReaderSpec {
    return { engine: 'lmdb', path: this.path, sync: this.sync };
  }

  /**
   * Makes the next read see every write committed so far, from any thread. A thread's reads share one read
   * transaction, which lmdb-js renews when that thread writes or a little after; a thread that only reads
   * while another writes (the anti-entropy worker) would otherwise keep answering from an old snapshot.
   */
  renewReads(): void {
    this.checkOpen();
    this.db.resetReadTxn();
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    // lmdb-js copies a binary key with TypedArray.set, so any Uint8Array does: a Buffer view over a small key
    // would make V8 move the key's bytes off its heap first, which costs more than the read.
    const value = this.db.getBinary(key as Buffer);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  *scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry> {
    this.checkOpen();
    const range = this.db.getRange({
      start: Buffer.from(start),
      ...(end === undefined ? {} : { end: Buffer.from(end) }),
      ...(limit === undefined ? {} : { limit }),
      snapshot: true,
    });
    for (const { key, value } of range) {
      // lmdb-js may reuse its buffers between iterations: copy what we hand out.
      yield { key: new Uint8Array(key), value: new Uint8Array(value) };
    }
  }

  async write(ops: readonly WriteOp[]): Promise<void> {
    this.checkOpen();
    if (ops.length === 0) return;
    try {
      // Inside a transaction callback put/remove write straight into the one atomic transaction.
      const committed = this.db.transaction(() => {
        for (const op of ops) {
          // Keys are copied by lmdb-js (as in get). Values are copied into Node's pooled buffers: lmdb-js
          // caches a native address per ArrayBuffer, and a pool slab has one for many values.
          const key = op.key as Buffer;
          if (op.value === null) this.db.remove(key);
          else this.db.put(key, Buffer.from(op.value));
        }
      });
      // The flush of THIS transaction, taken now: read after the commit, `flushed` would name the flush of
      // whatever transaction was queued last, and a caller writing again meanwhile would wait for its flush.
      const flushed = this.sync === 'none' ? undefined : this.flushOfLastTransaction();
      await committed;
      if (flushed !== undefined) await flushed;
    } catch (err) {
      throw await this.commitFailure(err);
    }
  }

  /**
   * lmdb-js's `flushed` is a thenable whose target is chosen when `then` is called: call it at once (an
   * await would call it a microtask later). It settles as resolved either way: a failed commit is reported
   * by the commit's own promise, awaited first.
   */
  private flushOfLastTransaction(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.db.flushed.then(
        () => resolve(),
        () => resolve(),
      );
    });
  }

  /** Names a failed commit: DISK_FULL when the disk is out of space, STORAGE_FAILED otherwise. */
  private async commitFailure(err: unknown): Promise<ConvergeError> {
    let cause = err as { message?: string; code?: unknown; commitError?: Promise<unknown> };
    // lmdb-js rejects the write with a generic error and the system's error as a promise beside it.
    if (cause.commitError !== undefined) {
      cause = await cause.commitError.then(
        () => cause,
        (detail: unknown) => detail as typeof cause,
      );
    }
    const errno = typeof cause.code === 'number' ? ` (errno ${cause.code})` : '';
    const detail = `${cause.message ?? String(cause)}${errno}`;
    const freeBytes = this.freeBytes();
    const low = freeBytes !== null && freeBytes < this.diskFreeBytesLow;
    if (cause.code === 28 || cause.code === 'ENOSPC' || low) {
      const free =
        freeBytes === null ? '' : `, ${freeBytes} bytes free, diskFreeBytesLow ${this.diskFreeBytesLow}`;
      return new ConvergeError('DISK_FULL', `the disk holding ${this.path} is full (${detail}${free})`);
    }
    return new ConvergeError('STORAGE_FAILED', `lmdb write failed: ${detail}`);
  }

  private freeBytes(): number | null {
    try {
      const s = statfsSync(this.path);
      return s.bavail * s.bsize;
    } catch {
      return null; // unknown: the failure is reported as STORAGE_FAILED
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new ConvergeError('STORAGE_FAILED', 'storage is closed');
  }
}
