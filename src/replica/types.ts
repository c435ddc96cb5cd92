// The surface of a replica that the coordinator, anti-entropy and the server use. A replica applies every
// change through core merge and keeps its digest in step with storage on every change.

import type { DigestTree } from '../core/digest.js';
import type { VersionedRecord } from '../core/record.js';

/** Why a change reached the replica; counted in metrics and shown in history. */
export type ApplySource = 'client' | 'replication' | 'hint' | 'read-repair' | 'anti-entropy' | 'bulk';

export interface ApplyResult {
  /** Records that replaced the stored one (or were new). */
  readonly applied: number;
  /** Records that lost to the stored one (older, or identical). */
  readonly ignored: number;
  /** Records stamped too far ahead of this node's clock (`--max-clock-drift`): refused, never stored. */
  readonly refusedAhead?: number;
  /**
   * Records under the purge bound (LocalReplica.underPurgeBound), never written; anti-entropy's count among
   * the ignored ones, the other paths' not (they refuse them).
   */
  readonly purged?: number;
  /**
   * Client, replication and hint records that lost only to a stored version stamped beyond the clock bound
   * (written while this node's clock ran away). Not acknowledged: the operator's procedure removes that
   * version (`converge repair --drop-ahead`), and the write it hid would be gone with it.
   */
  readonly heldAhead?: ReadonlySet<VersionedRecord>;
}

/** A record as listed in token order: the token plus the record (value included). */
export interface TokenEntry {
  readonly token: Uint8Array;
  readonly record: VersionedRecord;
}

/**
 * A replica as others read it: what reconciliation reads (the core's `ReplicaReader`) plus the node it
 * belongs to. Named apart from the core's interface so the two are never confused.
 */
export interface NamedReplicaReader {
  readonly id: string;
  /** Maintained on every change; never rebuilt per session. */
  readonly digest: DigestTree;
  /** The current record of a key (tombstones included), reading its own pending writes. */
  get(key: Uint8Array): VersionedRecord | undefined;
  /** Records whose token lies in [start, end) in token order, at most `limit`. */
  scanTokens(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<TokenEntry>;
}

export interface Replica extends NamedReplicaReader {
  /** Merges each record with the stored one; persists the winners atomically and updates the digest. */
  apply(records: readonly VersionedRecord[], source: ApplySource): Promise<ApplyResult>;
}
