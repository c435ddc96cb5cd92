// An ordered in-memory engine for unit tests and the deterministic simulation. It models durability: a write
// is visible and durable once its promise resolves; `crash()` drops writes still in flight (a process
// crash), and `powerLoss()` also reverts resolved writes that were never fsynced (sync policy `none`).

import { ConvergeError } from '../core/errors.js';
import { lowerBound, mergeSortedUnique } from '../core/sorted.js';
import type { Storage, StorageEntry, SyncPolicy, WriteOp } from './storage.js';

export interface MemoryStorageOptions {
  readonly sync?: SyncPolicy;
  /** Awaited before a write applies: the simulation's slow disk. A crash meanwhile drops the write. */
  readonly writeDelay?: () => Promise<void>;
}

const toKey = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');
const fromKey = (key: string): Uint8Array => new Uint8Array(Buffer.from(key, 'latin1'));

export class MemoryStorage implements Storage {
  readonly engine = 'memory';
  private readonly values = new Map<string, Uint8Array>();
  /** Sorted keys; may hold deleted keys (skipped on scan) and lacks `unsorted` ones until the next scan. */
  private sorted: string[] = [];
  private unsorted: string[] = [];
  /** Inverse ops of resolved but never-fsynced writes (sync `none`), newest last. */
  private unsynced: Array<{ key: string; previous: Uint8Array | undefined }> = [];
  /** Settles once the last write called so far has applied or failed; null when none is pending. */
  private lastWrite: Promise<void> | null = null;
  /** Bumped by crash(): writes started in an older epoch never apply. */
  private epoch = 0;
  private closed = false;
  readonly sync: SyncPolicy;

  constructor(private readonly options: MemoryStorageOptions = {}) {
    this.sync = options.sync ?? 'group';
  }

  /** The data lives in this thread's heap: no other thread can read it. */
  readerSpec(): null {
    return null;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    return this.values.get(toKey(key));
  }

  *scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry> {
    this.checkOpen();
    this.sortPending();
    const from = toKey(start);
    const to = end === undefined ? undefined : toKey(end);
    // Snapshot the range first so writes during iteration cannot disturb it.
    const out: StorageEntry[] = [];
    const max = limit ?? Number.POSITIVE_INFINITY;
    for (let i = lowerBound(this.sorted, from); i < this.sorted.length && out.length < max; i++) {
      const key = this.sorted[i]!;
      if (to !== undefined && key >= to) break;
      const value = this.values.get(key);
      if (value !== undefined) out.push({ key: fromKey(key), value });
    }
    yield* out;
  }

  async write(ops: readonly WriteOp[]): Promise<void> {
    this.checkOpen();
    const epoch = this.epoch;
    const copies = ops.map((op) => ({
      key: toKey(op.key),
      value: op.value === null ? null : op.value.slice(),
    }));
    // Writes apply in the order they were called, as lmdb commits them, however long each one's delay.
    const prior = this.lastWrite;
    const delay = this.options.writeDelay?.();
    if (delay !== undefined || prior !== null) {
      let applied!: () => void;
      const mine = new Promise<void>((resolve) => (applied = resolve));
      this.lastWrite = mine;
      try {
        await delay;
        await prior;
        this.applyWrite(epoch, copies);
      } finally {
        if (this.lastWrite === mine) this.lastWrite = null;
        applied();
      }
      return;
    }
    this.applyWrite(epoch, copies);
  }

  private applyWrite(epoch: number, copies: ReadonlyArray<{ key: string; value: Uint8Array | null }>): void {
    if (epoch !== this.epoch || this.closed) {
      throw new ConvergeError('STORAGE_FAILED', 'the process crashed before the write reached storage');
    }
    for (const op of copies) {
      const previous = this.values.get(op.key);
      if (this.sync === 'none') this.unsynced.push({ key: op.key, previous });
      if (op.value === null) this.values.delete(op.key);
      else {
        if (previous === undefined) this.unsorted.push(op.key);
        this.values.set(op.key, op.value);
      }
    }
  }

  /** A process crash: writes in flight are lost, resolved writes stay (they reached the OS). */
  crash(): void {
    this.epoch += 1;
  }

  /** A power loss: also reverts resolved writes that were never fsynced. */
  powerLoss(): void {
    this.crash();
    for (let i = this.unsynced.length - 1; i >= 0; i--) {
      const { key, previous } = this.unsynced[i]!;
      if (previous === undefined) this.values.delete(key);
      else {
        if (!this.values.has(key)) this.unsorted.push(key);
        this.values.set(key, previous);
      }
    }
    this.unsynced = [];
  }

  /** The OS flushed its page cache: un-fsynced writes become durable. */
  flush(): void {
    this.unsynced = [];
  }

  size(): number {
    return this.values.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Reopens after close(), as a restarted process would. */
  reopen(): void {
    this.closed = false;
  }

  private sortPending(): void {
    if (this.unsorted.length === 0 && this.sorted.length <= 2 * this.values.size + 1024) return;
    const live = this.sorted.filter((k) => this.values.has(k));
    const added = [...new Set(this.unsorted)].filter((k) => this.values.has(k)).sort();
    this.sorted = mergeSortedUnique(live, added);
    this.unsorted = [];
  }

  private checkOpen(): void {
    if (this.closed) throw new ConvergeError('STORAGE_FAILED', 'storage is closed');
  }
}

export function createMemoryStorage(options: MemoryStorageOptions = {}): MemoryStorage {
  return new MemoryStorage(options);
}
