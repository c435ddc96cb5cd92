// A token bucket over records and bytes: sessions await it between rounds, so repair traffic never exceeds
// the configured rates. The rates can be changed while sessions run.

import type { Clock } from '../core/hlc.js';
import type { Timers } from '../core/timers.js';
import type { Throttle } from './types.js';

export const throttleDefault: Throttle = { recordsPerSecondMax: 50_000, bytesPerSecondMax: 64 * 2 ** 20 };

export class TokenBucket {
  private records: number;
  private bytes: number;
  private lastMs: number;

  constructor(
    private limits: Throttle,
    private readonly clock: Clock,
    private readonly timers: Timers,
  ) {
    this.records = limits.recordsPerSecondMax;
    this.bytes = limits.bytesPerSecondMax;
    this.lastMs = clock.now();
  }

  get current(): Throttle {
    return this.limits;
  }

  set(limits: Partial<Throttle>): void {
    this.limits = { ...this.limits, ...limits };
  }

  /** Spends records and bytes, waiting as long as the rates require. Bursts up to one second's worth. */
  async take(records: number, bytes: number, signal?: AbortSignal): Promise<void> {
    this.refill();
    this.records -= records;
    this.bytes -= bytes;
    const waitMs =
      Math.max(
        -this.records / this.limits.recordsPerSecondMax,
        -this.bytes / this.limits.bytesPerSecondMax,
        0,
      ) * 1000;
    if (waitMs <= 0) return;
    // The wait pays the debt: the bucket is empty when it ends and refills from then on, whatever the rate
    // becomes meanwhile.
    this.records = Math.max(this.records, 0);
    this.bytes = Math.max(this.bytes, 0);
    this.lastMs = this.clock.now() + waitMs;
    await this.timers.sleep(waitMs, signal);
  }

  private refill(): void {
    const now = this.clock.now();
    const seconds = Math.max(0, now - this.lastMs) / 1000;
    this.lastMs = Math.max(this.lastMs, now);
    this.records = Math.min(
      this.limits.recordsPerSecondMax,
      this.records + seconds * this.limits.recordsPerSecondMax,
    );
    this.bytes = Math.min(
      this.limits.bytesPerSecondMax,
      this.bytes + seconds * this.limits.bytesPerSecondMax,
    );
  }
}
