// What the coordinator and the internal handlers of one node share.

import type { HybridLogicalClock } from '../core/hlc.js';
import type { VersionedRecord } from '../core/record.js';
import type { LocalReplica } from '../replica/replica.js';
import type { HintStore } from './hints.js';
import type { ClusterMetrics } from './metrics.js';
import type { PeerConfig } from './node-types.js';
import type { Transport } from './transport.js';

export interface NodeLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly requestTimeoutMs: number;
  /** Replication requests in flight to one peer; past it a write is hinted instead of queued (backpressure). */
  readonly replicationInFlightMax: number;
}

export const nodeLimitsDefault: NodeLimits = {
  keyBytesMax: 1024,
  valueBytesMax: 1024 * 1024,
  requestTimeoutMs: 2000,
  replicationInFlightMax: 1024,
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
  /** Replication requests currently in flight, per peer. */
  readonly inFlight: Map<string, number>;
  markSeen(peer: string, ok: boolean): void;
  /** True (counted and logged) when a record read from a replica is stamped too far ahead of this clock. */
  refusesAhead(record: VersionedRecord): boolean;
}
