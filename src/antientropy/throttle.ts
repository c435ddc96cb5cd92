// A token bucket over records and bytes: sessions await it between rounds, so repair traffic never exceeds
// the configured rates. The rates can be changed while sessions run, and the records rate can be capped
// lower for a while (the adaptive rate does, while the node is loaded) without touching the configured one.

import type { Clock } from '../core/hlc.js';
import type { Timers } from '../core/timers.js';
import type { Throttle } from './types.js';

export const throttleDefault: Throttle = { recordsPerSecondMax: 50_000, bytesPerSecondMax: 64 * 2 ** 20 };

/**
 * The most a bucket holds, in seconds of its rate: enough to cover a few repair batches, so a session never
 * waits between batches at the configured rate, but no long burst at full speed when repair begins.
 */
export const burstSeconds = 0.1;

export class TokenBucket {
  /** Records spent so far: the adaptive rate measures what repair achieved from it. */
  recordsTaken = 0;
  private records: number;
  private bytes: number;
  private lastMs: number;
  private recordsCapPerSecond = Number.POSITIVE_INFINITY;

  constructor(
    private limits: Throttle,
    private readonly clock: Clock,
    private readonly timers: Timers,
  ) {
    this.records = limits.recordsPerSecondMax * burstSeconds;
    this.bytes = limits.bytesPerSecondMax * burstSeconds;
    this.lastMs = clock.now();
  }

  get current(): Throttle {
    return this.limits;
  }

  /**
   * A new rate applies at once. Waits already queued at the old rate end when they were due, but later takers
   * are not queued behind them: a session cancelled at 20 records/s would otherwise hold back every session
   * after it, at any rate, until the time its batches were owed had passed.
   */
  set(limits: Partial<Throttle>): void {
    this.limits = { ...this.limits, ...limits };
    this.lastMs = Math.min(this.lastMs, this.clock.now());
  }

  /** The records rate in force: the configured one, or the cap while one is set. */
  get recordsPerSecond(): number {
    return Math.min(this.limits.recordsPerSecondMax, this.recordsCapPerSecond);
  }

  /** Caps the records rate below the configured one (+Infinity lifts the cap). */
  setRecordsCap(perSecond: number): void {
    this.recordsCapPerSecond = perSecond;
  }

  /** Spends records and bytes, waiting as long as the rates require. Bursts up to one second's worth. */
  async take(records: number, bytes: number, signal?: AbortSignal): Promise<void> {
    this.refill();
    this.recordsTaken += records;
    this.records -= records;
    this.bytes -= bytes;
    const waitMs =
      Math.max(-this.records / this.recordsPerSecond, -this.bytes / this.limits.bytesPerSecondMax, 0) * 1000;
    if (waitMs <= 0) return;
    // The wait pays the debt: the bucket is empty when it ends and refills from then on, whatever the rate
    // becomes meanwhile. Concurrent takers queue: a debt is paid after the ones already being paid (several
    // batches in flight, several sessions), or together they would go as fast as each alone.
    this.records = Math.max(this.records, 0);
    this.bytes = Math.max(this.bytes, 0);
    const now = this.clock.now();
    this.lastMs = Math.max(this.lastMs, now) + waitMs;
    await this.timers.sleep(this.lastMs - now, signal);
  }

  private refill(): void {
    const now = this.clock.now();
    const seconds = Math.max(0, now - this.lastMs) / 1000;
    this.lastMs = Math.max(this.lastMs, now);
    const rate = this.recordsPerSecond;
    this.records = Math.min(rate * burstSeconds, this.records + seconds * rate);
    this.bytes = Math.min(
      this.limits.bytesPerSecondMax * burstSeconds,
      this.bytes + seconds * this.limits.bytesPerSecondMax,
    );
  }
}
