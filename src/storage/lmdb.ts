// The default engine: LMDB through lmdb-js. Writes go through lmdb-js's asynchronous batched transactions
// (all writes issued in one event-loop turn share a transaction), which is what makes group commit cheap.
// The sync policy decides what a resolved write promises: see docs/operations.md.

import { mkdirSync } from 'node:fs';
import { type RootDatabase, open } from 'lmdb';
import { ConvergeError } from '../core/errors.js';
import type { Storage, StorageEntry, SyncPolicy, WriteOp } from './storage.js';

export interface LmdbOptions {
  readonly path: string;
  readonly sync: SyncPolicy;
  /** Upper bound of the memory map, i.e. of the database size. */
  readonly mapSizeBytes?: number;
}

export const lmdbMapSizeBytesDefault = 64 * 2 ** 30;

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
    });
  } catch (err) {
    throw new ConvergeError('STORAGE_FAILED', `cannot open lmdb at ${options.path}: ${(err as Error).message}`);
  }
  return new LmdbStorage(db, options.sync);
}

export class LmdbStorage implements Storage {
  readonly engine = 'lmdb';
  private closed = false;

  constructor(
    private readonly db: RootDatabase<Buffer, Buffer>,
    private readonly sync: SyncPolicy,
  ) {}

  /**
   * Makes the next read see every write committed so far, from any thread. A thread's reads share one read
   * transaction, which lmdb-js renews when that thread writes or a little after; a thread that only reads while
   * another writes (the anti-entropy worker) would otherwise keep answering from an old snapshot.
   */
  renewReads(): void {
    this.checkOpen();
    this.db.resetReadTxn();
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    const value = this.db.getBinary(Buffer.from(key.buffer, key.byteOffset, key.byteLength));
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
      await this.db.transaction(() => {
        for (const op of ops) {
          const key = Buffer.from(op.key);
          if (op.value === null) this.db.remove(key);
          else this.db.put(key, Buffer.from(op.value));
        }
      });
      if (this.sync !== 'none') await this.db.flushed;
    } catch (err) {
      throw new ConvergeError('STORAGE_FAILED', `lmdb write failed: ${(err as Error).message}`);
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
