// A storage that fills up on command, for tests of what a full disk does to the layers above: while `full`,
// every commit fails with DISK_FULL and applies nothing. Reads pass through.

import { ConvergeError } from '../core/errors.js';
import { createMemoryStorage } from './memory.js';
import type { ReaderSpec, Storage, StorageEntry, WriteOp } from './storage.js';

/** A disk that fills up on command: every commit fails while `full`, and nothing of it is applied. */
export class FillableStorage implements Storage {
  readonly engine = 'fillable';
  full = false;
  commits = 0;

  constructor(private readonly inner: Storage = createMemoryStorage()) {}

  readerSpec(): ReaderSpec | null {
    return this.inner.readerSpec();
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(key);
  }

  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry> {
    return this.inner.scan(start, end, limit);
  }

  async write(ops: readonly WriteOp[]): Promise<void> {
    this.commits += 1;
    if (this.full) throw new ConvergeError('DISK_FULL', 'the disk is full (test)');
    await this.inner.write(ops);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
