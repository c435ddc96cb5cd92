// What the coordinator and the internal handlers of one node share.

import type { HybridLogicalClock } from '../core/hlc.js';
import type { ReplicaSets } from '../core/membership-replicas.js';
import type { VersionedRecord } from '../core/record.js';
import type { Timers } from '../core/timers.js';
import type { LocalReplica } from '../replica/replica.js';
import type { HintStore } from './hints.js';
import type { ClusterMetrics } from './metrics.js';
import type { PeerConfig } from './node-types.js';
import type { ReplicationAdmission } from './replication-admission.js';
import type { ChannelLimits, ReplicationChannel } from './replication-channel.js';
import type { Transport } from './transport.js';

export interface NodeLimits extends ChannelLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly requestTimeoutMs: number;
  /** How long a write may wait for room in the replication queues before it is refused with OVERLOADED. */
  readonly admissionWaitMsMax: number;
  /** Keys in one batch request, and the bytes of its keys and values together. */
  readonly batchKeysMax: number;
  readonly batchBytesMax: number;
}

export const nodeLimitsDefault: NodeLimits = {
  keyBytesMax: 1024,
  valueBytesMax: 1024 * 1024,
  requestTimeoutMs: 2000,
  replicationQueueRecordsMax: 16_384,
  replicationQueueBytesMax: 64 * 2 ** 20,
  replicationMessageRecordsMax: 1024,
  replicationMessageBytesMax: 2 ** 20,
  replicationMessagesInFlightMax: 1,
  admissionWaitMsMax: 1000,
  batchKeysMax: 1000,
  batchBytesMax: 4 * 2 ** 20,
};

export interface Mechanisms {
  hints: boolean;
  readRepair: boolean;
  antiEntropy: boolean;
}

export interface NodeContext {
  readonly id: string;
  readonly peers: readonly PeerConfig[];
  readonly replica: LocalReplica;
  readonly transport: Transport;
  readonly hlc: HybridLogicalClock;
  readonly limits: NodeLimits;
  readonly mechanisms: Mechanisms;
  readonly hints: HintStore | undefined;
  readonly metrics: ClusterMetrics;
  readonly timers: Timers;
  /** One coalescing channel per peer, and the admission queue in front of them. */
  readonly channels: ReadonlyMap<string, ReplicationChannel>;
  readonly admission: ReplicationAdmission;
  /**
   * The replicas that hold `key` (this node's id included when it is one). Today every member; the
   * partitioned ring replaces this one function.
   */
  replicasFor(key: Uint8Array): readonly string[];
  /**
   * While a membership change moves the key's partition: whose acknowledgements count (per group) and who
   * serves its reads (membership-replicas.ts). Undefined (or absent) when it does not move.
   */
  changeSetsFor?(key: Uint8Array): ReplicaSets | undefined;
  /**
   * A replica refused a write as coordinated under an older membership (MEMBERSHIP_STALE): fetch that
   * replica's membership and install it, so the write can be sent again to the owners it names.
   */
  catchUpMembership?(peer: string): Promise<void>;
  markSeen(peer: string, ok: boolean): void;
  /** True (counted and logged) when a record read from a replica is stamped too far ahead of this clock. */
  refusesAhead(record: VersionedRecord): boolean;
}
