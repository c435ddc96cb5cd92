// What reconciliation reads from a replica: its digest, its records by key, and its records in token order.
// The replica (src/replica) implements it; tests use an in-memory one.

import type { DigestTree } from './digest.js';
import type { PartitionSymbols } from './partition-symbols.js';
import type { VersionedRecord } from './record.js';
import type { CodedSymbols } from './riblt.js';
import type { RecordHeader } from './wire.js';

export interface ReplicaReader {
  readonly digest: DigestTree;
  /** Coded symbols over the same records, when the replica keeps them (the symbol path needs them). */
  readonly symbols?: CodedSymbols | undefined;
  /** Coded symbols per ring partition, when kept: the symbol path of a session over some partitions. */
  readonly partitionSymbols?: PartitionSymbols | undefined;
  get(key: Uint8Array): VersionedRecord | undefined;
  scanTokens(
    start: Uint8Array,
    end: Uint8Array | undefined,
    limit?: number,
  ): Iterable<{ readonly token: Uint8Array; readonly record: VersionedRecord }>;
}

/**
 * One difference found: a key whose records differ, with the local record (if any) and the peer's header
 * (if any); a whole prefix where the peer holds nothing, so every local record under it is missing there
 * (local-range, pushed whole); or a whole prefix where this replica holds nothing, so every record the peer
 * holds under it is missing here (remote-range, fetched whole).
 */
export type Difference =
  | {
      readonly kind: 'key';
      readonly key: Uint8Array;
      readonly local: VersionedRecord | undefined;
      readonly remote: RecordHeader | undefined;
    }
  | { readonly kind: 'local-range'; readonly level: number; readonly index: number; readonly records: number }
  | {
      readonly kind: 'remote-range';
      readonly level: number;
      readonly index: number;
      readonly records: number;
    };
