// The storage interface: an ordered map of bytes to bytes with atomic batches. Engines are dumb — versions,
// merge and digests live above them (replica/). Every engine runs the contract suite in storage-contract.ts.

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

export interface Storage {
  readonly engine: string;
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
