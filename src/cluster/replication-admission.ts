// Admission of writes against the replication queues: a write needs room in the queue of every reachable
// peer it goes to. With room it starts at once; without, it waits in one FIFO (so a waiting write is not
// overtaken by later ones) and, past `admissionWaitMsMax`, is refused with OVERLOADED before anything of it
// has been applied anywhere. A peer taken as down has no queue to wait for: its records become hints.

import { ConvergeError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';
import type { ReplicationChannel } from './replication-channel.js';

/** Records and bytes one write (or batch) adds to each peer's queue. */
export type Demand = Map<string, { records: number; bytes: number }>;

interface Waiter {
  readonly demand: Demand;
  readonly start: () => void;
  readonly resolve: () => void;
  readonly reject: (err: ConvergeError) => void;
  cancelTimer: () => void;
  settled: boolean;
}

export interface AdmissionCounters {
  admittedAtOnce: number;
  admittedAfterWait: number;
  overloaded: number;
}

export class ReplicationAdmission {
  private waiters: Waiter[] = [];
  readonly counters: AdmissionCounters = { admittedAtOnce: 0, admittedAfterWait: 0, overloaded: 0 };

  constructor(
    private readonly channels: ReadonlyMap<string, ReplicationChannel>,
    private readonly timers: Timers,
    private readonly admissionWaitMsMax: () => number,
  ) {}

  /** Writes waiting for room right now. */
  waiting(): number {
    return this.waiters.length;
  }

  /**
   * Runs `start` (synchronously, the moment the write is admitted) and resolves; or rejects with OVERLOADED
   * without ever running it. `start` must queue the write's records before it returns.
   */
  admit(demand: Demand, start: () => void): Promise<void> {
    if (this.waiters.length === 0 && this.fits(demand)) {
      this.counters.admittedAtOnce += 1;
      start();
      return Promise.resolve();
    }
    const waitMs = this.admissionWaitMsMax();
    if (waitMs <= 0) return Promise.reject(this.overloaded(demand, waitMs));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { demand, start, resolve, reject, cancelTimer: () => {}, settled: false };
      waiter.cancelTimer = this.timers.schedule(waitMs, () => this.expire(waiter, waitMs));
      this.waiters.push(waiter);
    });
  }

  /** Room was freed on some queue (or a peer went down): admit waiters in order while the head fits. */
  onRoom(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      if (!this.fits(head.demand)) return;
      this.waiters.shift();
      head.settled = true;
      head.cancelTimer();
      this.counters.admittedAfterWait += 1;
      head.start();
      head.resolve();
    }
  }

  private expire(waiter: Waiter, waitMs: number): void {
    if (waiter.settled) return;
    waiter.settled = true;
    this.waiters = this.waiters.filter((w) => w !== waiter);
    waiter.reject(this.overloaded(waiter.demand, waitMs));
    // The head may have been the one blocking the others.
    this.onRoom();
  }

  private fits(demand: Demand): boolean {
    for (const [peer, d] of demand) {
      const channel = this.channels.get(peer);
      if (channel === undefined || channel.down) continue;
      if (!channel.hasRoom(d.records, d.bytes)) return false;
    }
    return true;
  }

  private overloaded(demand: Demand, waitMs: number): ConvergeError {
    this.counters.overloaded += 1;
    const full = [...demand.keys()].filter((p) => {
      const c = this.channels.get(p);
      return c !== undefined && !c.down && !c.hasRoom(demand.get(p)!.records, demand.get(p)!.bytes);
    });
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return new ConvergeError(
      'OVERLOADED',
      `the replication queue to ${full.sort().join(', ') || 'a peer'} is full and stayed full for ` +
        `admissionWaitMsMax ` +
        `${waitMs} ms; nothing was applied, retry after ${retryAfterSeconds} s`,
      { full: full.sort(), retryAfterSeconds },
    );
  }
}
