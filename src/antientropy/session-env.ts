// What a session needs from its node: injected, so sessions run the same in the server and the simulation.

import type { Transport } from '../cluster/transport.js';
import type { Clock } from '../core/hlc.js';
import type { Random } from '../core/random.js';
import type { Timers } from '../core/timers.js';
import type { LocalReplica } from '../replica/replica.js';
import type { AntiEntropyState } from './state.js';
import type { TokenBucket } from './throttle.js';

export interface SessionLimits {
  readonly branchBits: number;
  readonly entriesMax: number;
  readonly roundBytesMax: number;
  readonly requestTimeoutMs: number;
}

export const sessionLimitsDefault: SessionLimits = {
  branchBits: 2,
  entriesMax: 4096,
  roundBytesMax: 2 ** 20,
  requestTimeoutMs: 30_000,
};

export interface SessionMetricsSink {
  repaired(direction: 'pull' | 'push', records: number, bytes: number): void;
}

export interface SessionEnv {
  readonly id: string;
  readonly replica: LocalReplica;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly timers: Timers;
  readonly throttle: TokenBucket;
  readonly state: AntiEntropyState;
  readonly limits: SessionLimits;
  readonly metrics: SessionMetricsSink;
  purgedBeforeMs(): number;
}
