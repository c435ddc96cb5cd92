// What the coordinator and the internal handlers of one node share.

import type { HybridLogicalClock } from '../core/hlc.js';
import type { LocalReplica } from '../replica/replica.js';
import type { HintStore } from './hints.js';
import type { ClusterMetrics } from './metrics.js';
import type { PeerConfig } from './node-types.js';
import type { Transport } from './transport.js';

export interface NodeLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly requestTimeoutMs: number;
}

export const nodeLimitsDefault: NodeLimits = {
  keyBytesMax: 1024,
  valueBytesMax: 1024 * 1024,
  requestTimeoutMs: 2000,
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
  markSeen(peer: string, ok: boolean): void;
}
