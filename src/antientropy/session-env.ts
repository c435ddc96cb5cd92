// What a session needs from its node: injected, so sessions run the same in the server and the simulation.

import type { Transport } from '../cluster/transport.js';
import type { Clock } from '../core/hlc.js';
import type { Random } from '../core/random.js';
import type { Timers } from '../core/timers.js';
import type { Topology } from '../core/topology.js';
import type { LocalReplica } from '../replica/replica.js';
import type { RepairWorkerTasks } from './repair-worker.js';
import type { AntiEntropyState } from './state.js';
import type { TokenBucket } from './throttle.js';

export interface SessionLimits {
  readonly branchBits: number;
  readonly entriesMax: number;
  /**
   * A round's request stops growing past this, and so does this node's answer to a peer's round: it bounds
   * the work one message causes on either side (a wiped replica is sent every header of a range).
   */
  readonly roundBytesMax: number;
  /**
   * Building a round's request, or this node's answer to a peer's round or key fetch, stops adding items
   * after this long: listing records reads storage, and one round must not hold the event loop (and the
   * foreground requests queued behind it) for long. The rest goes in the next rounds.
   */
  readonly roundBusyMsMax: number;
  readonly requestTimeoutMs: number;
  /** Sessions this node runs at once, begun by either side; a busy node refuses others (CONFLICT). */
  readonly sessionsMax: number;
  /** Records per fetch or push, i.e. per storage commit of repair on the receiving side. */
  readonly repairBatchRecordsMax: number;
  /** Repair batches in flight at once in one session: the next is read and sent while the last commits. */
  readonly repairBatchesInFlightMax: number;
  /**
   * Records per page of a membership change's streaming fast path (stream-session.ts), one storage commit
   * each on the new owner; 0 turns the fast path off (streaming sessions reconcile like any other).
   */
  readonly streamPageRecordsMax: number;
  /** A streaming page stops adding records past this many bytes (at least one record always goes). */
  readonly streamPageBytesMax: number;
  /**
   * A source stops adding records to a page after this long: reading and encoding a large page must not hold
   * the event loop (and the foreground requests behind it) for long. The new owner asks for the rest next.
   */
  readonly streamPageBusyMsMax: number;
  /** Pages in flight at once in one streaming session: its partitions are split into this many chains. */
  readonly streamPagesInFlightMax: number;
  /** Records per second the streaming fast path applies, all its sessions together (the repair rate aside). */
  readonly streamRecordsPerSecondMax: number;
}

export const sessionLimitsDefault: SessionLimits = {
  branchBits: 2,
  entriesMax: 4096,
  roundBytesMax: 16 * 2 ** 10,
  roundBusyMsMax: 2,
  requestTimeoutMs: 30_000,
  sessionsMax: 1,
  repairBatchRecordsMax: 250,
  repairBatchesInFlightMax: 2,
  streamPageRecordsMax: 8192,
  streamPageBytesMax: 4 * 2 ** 20,
  streamPageBusyMsMax: 10,
  streamPagesInFlightMax: 3,
  streamRecordsPerSecondMax: 500_000,
};

export interface SessionMetricsSink {
  repaired(direction: 'pull' | 'push', records: number, bytes: number): void;
  /** Records of a partition this node does not hold, dropped instead of written. */
  notOwned(records: number): void;
}

export interface SessionEnv {
  readonly id: string;
  readonly replica: LocalReplica;
  readonly transport: Transport;
  readonly clock: Clock;
  /**
   * A monotonic high-resolution clock in ms that times the work of one round (`roundBusyMsMax`); the clock
   * above when absent, as in the simulation, whose virtual time stands still within a round.
   */
  readonly busyNow?: () => number;
  readonly random: Random;
  readonly timers: Timers;
  readonly throttle: TokenBucket;
  /**
   * The records rate of the streaming fast path (its bytes go through `throttle`); `throttle` alone when
   * absent.
   */
  readonly streamThrottle?: TokenBucket;
  readonly state: AntiEntropyState;
  readonly limits: SessionLimits;
  readonly metrics: SessionMetricsSink;
  /** Decodes and merges pulled records in a worker thread; the event loop does it when absent. */
  readonly repairWorker?: RepairWorkerTasks;
  /** The ring as it is now: who holds which partition. */
  topology(): Topology;
  /**
   * The partitions a membership change is streaming to `member` now (it is among their new owners, not their
   * old ones): a repair session of this node copies them by the streaming fast path too. Absent: none.
   */
  readonly streamedTo?: (member: string) => ReadonlySet<number>;
  /**
   * The purge bound of the partition `token` falls in; without a token, the floor that holds for every
   * partition this node holds (safe anywhere: a lower bound only keeps tombstones a little longer).
   */
  purgedBeforeMs(token?: Uint8Array): number;
  /**
   * Raises this node's purge bounds of the partitions shared with `peer` to the peer's (its message's runs,
   * else `boundMs`), and purges below them, before the two compare, so a tombstone one side already purged
   * is not divergence. Absent: bounds are not exchanged.
   */
  adoptPurgeBound?(
    boundMs: number,
    peer?: string,
    msg?: { purgedBeforeMs?: unknown; purgeBoundsMs?: unknown },
  ): Promise<void>;
}

/** The clock that times a round's work. */
export function busyClock(env: Pick<SessionEnv, 'busyNow' | 'clock'>): () => number {
  return env.busyNow ?? (() => env.clock.now());
}
