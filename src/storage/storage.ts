// The storage interface: an ordered map of bytes to bytes with atomic batches, read synchronously from
// snapshots. Engines are dumb — versions, merge and digests live above them (replica/). Every engine runs the
// contract suite in storage-contract.ts; engines.ts opens one by name (`--engine`).

export interface StorageEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** A put (value set) or a delete (value null). */
export interface WriteOp {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * When a write is acknowledged relative to fsync:
 * - always: every write batch is its own fsynced transaction before it resolves;
 * - group:  batches arriving together share one transaction and one fsync (group commit), then all resolve;
 * - none:   no fsync; a batch resolves once the OS has it (survives a process crash, not a power loss).
 */
export type SyncPolicy = 'always' | 'group' | 'none';
export const syncPolicies: readonly SyncPolicy[] = ['always', 'group', 'none'];

/**
 * lmdb: the default, durable on disk, readable from a second thread. memory: nothing survives a restart;
 * for trying things out and tests of the layers above (the repair worker then runs on the event loop).
 * Opened by name in engines.ts (kept apart: the configuration reads this list without loading lmdb).
 */
export const storageEngines = ['lmdb', 'memory'] as const;
export type StorageEngine = (typeof storageEngines)[number];

/**
 * Reads are synchronous snapshot reads, on purpose. `get` answers from one consistent state and `scan`
 * iterates one snapshot, whatever writes resolve meanwhile, and neither ever awaits: the replica merges a
 * record against the stored one and updates its digest in the same synchronous step (replica/replica.ts),
 * so no other apply can slip between the read and the decision, and reconciliation reads whole digest
 * leaves without yielding. An engine whose reads need I/O completions (a remote store) does not fit here.
 */
export interface StorageReads {
  /** The value of `key` as of the last resolved write (or renewReads, for a reader), or undefined. */
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * Entries with start <= key < end (end undefined: to the end) in byte order, at most `limit` of them, from
   * one snapshot: writes that resolve while it is iterated do not show.
   */
  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry>;
}

/**
 * A second handle on the same data, read-only, for the repair worker's thread: it reads from a snapshot
 * that `renewReads` moves to the latest commit (the owner's pending writes are not in it).
 */
export interface StorageReader extends StorageReads {
  renewReads(): void;
  close(): Promise<void>;
}

/**
 * How another thread opens a reader on a store: plain data (it crosses to a worker thread), opened there by
 * `openStorageReader` (engines.ts) with the engine's own opener.
 */
export interface ReaderSpec {
  readonly engine: string;
  readonly path: string;
  readonly sync: SyncPolicy;
}

export interface Storage {
  readonly engine: string;
  /**
   * Where a second reader opens this store from another thread; null when the data lives in this thread only
   * (the memory engine: its repair work then runs on the event loop).
   */
  readerSpec(): ReaderSpec | null;
  /** The value of `key` as of the last resolved write, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined;
  /**
   * Entries with start <= key < end (end undefined: to the end) in byte order, at most `limit` of them.
   * Sees every write that resolved before the call; a write that is still pending may or may not show.
   */
  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry>;
  /**
   * Applies all ops atomically (all or none). Resolves once durable as the sync policy says. Several writes
   * may be in flight at once: they are applied in the order they were called (the replica commits its next
   * batch while the previous one is flushed), and each resolves once its own ops are durable.
   */
  write(ops: readonly WriteOp[]): Promise<void>;
  close(): Promise<void>;
}
