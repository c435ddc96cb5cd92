// Hybrid logical clock versions: wall-clock milliseconds plus a logical counter, ties broken by node id.
// A version totally orders every write in the cluster; `compareVersions` is the order last-writer-wins uses.
// The clock is injected, so the simulation can skew and jump it.

import { assert } from './errors.js';

export interface Version {
  /** Wall-clock milliseconds (of the HLC, not necessarily of any real clock). */
  readonly ms: number;
  /** Logical counter within one millisecond, 0..counterMax. */
  readonly counter: number;
  /** Id of the node that issued the version; breaks ties. */
  readonly node: string;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const counterMax = 0xffff;
/**
 * How far ahead of a receiver's clock a version may be stamped (`--max-clock-drift`); the HLC's guard too.
 */
export const maxClockDriftMsDefault = 60_000;

/**
 * True when `v` is stamped further ahead of `nowMs` (the receiver's clock) than `maxDriftMs`. Such a version
 * would beat every write made until the clock catches up, so every path that stores a record refuses it.
 */
export function isAheadOfClock(v: Pick<Version, 'ms'>, nowMs: number, maxDriftMs: number): boolean {
  return v.ms > nowMs + maxDriftMs;
}
export const msMax = 2 ** 48 - 1;
export const nodeIdBytesMax = 64;

export function compareVersions(a: Version, b: Version): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

export function versionToString(v: Version): string {
  return `${v.ms}.${v.counter}@${v.node}`;
}

/**
 * Issues versions for one node. `now()` never goes backwards and is always greater than every version this
 * node has observed (`observe`), so a write that follows a read of version v gets a version greater than v
 * even when the local wall clock lags.
 */
export class HybridLogicalClock {
  private lastMs = 0;
  private lastCounter = 0;

  constructor(
    readonly node: string,
    private readonly clock: Clock,
    /** Remote versions further than this ahead of the local clock are not adopted (clock-jump guard). */
    private readonly driftMsMax = maxClockDriftMsDefault,
  ) {
    assert(node.length > 0 && node.length <= nodeIdBytesMax, 'node id length');
  }

  now(): Version {
    const wall = this.clock.now();
    if (this.lastMs > wall + this.driftMsMax) {
      // The wall clock was set back (it had run ahead): versions from here on would be refused everywhere.
      this.lastMs = 0;
    }
    if (wall > this.lastMs) {
      this.lastMs = wall;
      this.lastCounter = 0;
    } else if (this.lastCounter < counterMax) {
      this.lastCounter += 1;
    } else {
      this.lastMs += 1;
      this.lastCounter = 0;
    }
    assert(this.lastMs <= msMax, 'HLC milliseconds out of range');
    return { ms: this.lastMs, counter: this.lastCounter, node: this.node };
  }

  /** Moves the clock past a version seen from elsewhere. Returns false if it was too far in the future. */
  observe(v: Version): boolean {
    if (isAheadOfClock(v, this.clock.now(), this.driftMsMax)) return false;
    if (v.ms > this.lastMs || (v.ms === this.lastMs && v.counter > this.lastCounter)) {
      this.lastMs = v.ms;
      this.lastCounter = v.counter;
    }
    return true;
  }
}
