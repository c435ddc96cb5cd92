// Adapts the repair rate to the node's own load, on its own tick. Foreground requests and repair share the
// node's event loop: when it is busy most of the time, requests queue behind repair work and their latency
// grows with the queue. While the loop (smoothed over a few intervals) is busier than the target, the records
// rate is cut (the first cut starts from what repair achieved); while it is not, the rate grows again step by
// step up to the configured throttle. Repair starts slow, from the floor, after it has been idle: a session
// that began at full speed filled the loop for the second or so the load takes to show, and every request
// arriving then queued behind it. The floor keeps repair moving on a node that is always busy: anti-entropy
// is the safety net and must never stop for good.

import type { Clock } from '../core/hlc.js';
import type { Timers } from '../core/timers.js';
import type { TokenBucket } from './throttle.js';

/** Where the load is read from; the server wires the event loop's utilisation, the simulation none. */
export interface LoadProbe {
  /** Share of the time since the previous call (0..1) that the event loop spent running tasks. */
  busy(): number;
}

export interface AdaptiveOptions {
  /** Busy share of the event loop (percent) above which repair backs off. */
  readonly loopBusyPercentTarget: number;
  /** How often the load is read and the rate adjusted. */
  readonly intervalMs: number;
  /** Repair never goes slower than this, however loaded the node. */
  readonly recordsPerSecondMin: number;
}

/** Cut per loaded interval (multiplicative decrease) and growth per calm one. */
const backOffFactor = 0.7;
const growFactor = 1.25;
/** Intervals without repair after which the next repair starts from the floor again. */
const idleIntervalsToRestart = 5;

export class AdaptiveRate {
  /** Records-per-second cap in force; +Infinity when the configured throttle alone applies. */
  capPerSecond: number;
  /** Busy share of the event loop in percent, smoothed over a few intervals. */
  busyPercentLast = 0;
  backOffs = 0;
  /** Records per second repair achieved, smoothed over a few intervals (batches arrive in bursts). */
  private achievedPerSecond = 0;
  private takenLast: number;
  private atMsLast: number;
  private idleIntervals = 0;

  constructor(
    private readonly bucket: TokenBucket,
    private readonly probe: LoadProbe,
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly options: AdaptiveOptions,
  ) {
    this.takenLast = bucket.recordsTaken;
    this.atMsLast = clock.now();
    this.capPerSecond = options.recordsPerSecondMin;
    bucket.setRecordsCap(this.capPerSecond);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.timers.sleep(this.options.intervalMs, signal);
      } catch {
        return;
      }
      this.tick();
    }
  }

  /** Reads the load once and adjusts the cap. */
  tick(): void {
    const now = this.clock.now();
    const seconds = Math.max(1, now - this.atMsLast) / 1000;
    const achieved = (this.bucket.recordsTaken - this.takenLast) / seconds;
    this.takenLast = this.bucket.recordsTaken;
    this.atMsLast = now;
    this.achievedPerSecond = 0.5 * this.achievedPerSecond + 0.5 * achieved;
    // Smoothed: one busy interval (a collection, a burst of requests) is no reason to slow down.
    this.busyPercentLast = 0.5 * this.busyPercentLast + 50 * this.probe.busy();
    const { loopBusyPercentTarget, recordsPerSecondMin } = this.options;
    this.idleIntervals = achieved > 0 ? 0 : this.idleIntervals + 1;
    if (this.idleIntervals >= idleIntervalsToRestart) {
      // The load now is the foreground's own; the next repair starts from the floor.
      this.capPerSecond = recordsPerSecondMin;
      this.achievedPerSecond = 0;
    } else if (this.busyPercentLast > loopBusyPercentTarget) {
      this.backOffs += 1;
      // Cutting from what was achieved each time would ratchet the cap down whenever repair is slowed by
      // something else (round trips, commits); only the first cut starts there.
      const from = Number.isFinite(this.capPerSecond) ? this.capPerSecond : this.achievedPerSecond;
      this.capPerSecond = Math.max(recordsPerSecondMin, from * backOffFactor);
    } else if (Number.isFinite(this.capPerSecond)) {
      this.capPerSecond *= growFactor;
      // Back at the configured rate: the cap is lifted altogether.
      if (this.capPerSecond >= this.bucket.current.recordsPerSecondMax)
        this.capPerSecond = Number.POSITIVE_INFINITY;
    }
    this.bucket.setRecordsCap(this.capPerSecond);
  }
}
