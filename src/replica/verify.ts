// Background verification: walks the digest leaf by leaf, recomputing each from storage, at a throttled
// pace, while exchanges and writes go on. It catches bugs in incremental maintenance (drift) and bit rot.

import type { Clock } from '../core/hlc.js';
import type { Timers } from '../core/timers.js';
import type { LocalReplica } from './replica.js';

export interface VerificationMismatch {
  readonly kind: 'digest-drift' | 'record-rot';
  readonly leaf: number;
  readonly key?: Uint8Array;
}

export interface VerifierOptions {
  readonly replica: LocalReplica;
  readonly clock: Clock;
  readonly timers: Timers;
  /** Records read from storage per second, at most. */
  readonly recordsPerSecondMax: number;
  /** Pause between complete passes. */
  readonly passIntervalMs: number;
  readonly onMismatch?: (mismatch: VerificationMismatch) => void;
  /**
   * While this says so (asked between slices), the pass waits: anti-entropy repair on this node goes first,
   * since both compete for the same event loop and the repair is what the replica is behind on. A pass waits
   * at most `deferMaxMs` in a row, so continuous repair cannot stop verification for good.
   */
  readonly deferWhile?: () => boolean;
  readonly deferMaxMs?: number;
}

/** How often a deferred pass looks again. */
const deferPollMs = 250;

/**
 * Work between sleeps, as a share of a second's budget: small, because each slice holds the event loop (an
 * empty leaf still costs a storage range lookup, so a slice of 2,000 leaves held it for ~100 ms).
 */
const sliceSeconds = 0.01;

export class DigestVerifier {
  passes = 0;
  mismatches = 0;
  running = false;
  lastPassEndedAtMs: number | null = null;

  constructor(private readonly options: VerifierOptions) {}

  /** Runs passes until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    try {
      while (!signal.aborted) {
        await this.pass(signal);
        if (signal.aborted) break;
        await this.options.timers.sleep(this.options.passIntervalMs, signal);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      this.running = false;
    }
  }

  /** One full pass over every leaf; returns the mismatches found. */
  async pass(signal?: AbortSignal): Promise<number> {
    const { replica, timers } = this.options;
    const leaves = 2 ** replica.digest.leafBits;
    let found = 0;
    let budget = 0;
    for (let leaf = 0; leaf < leaves; leaf++) {
      if (signal?.aborted) return found;
      await replica.whenDigestReady();
      // Re-checked after the await: a storage failure may have started a new rebuild.
      if (!replica.digestReady) {
        leaf -= 1;
        continue;
      }
      const result = replica.verifyLeaf(leaf);
      if (result.drift) found += this.report({ kind: 'digest-drift', leaf });
      if (result.rotten.length > 0) {
        for (const r of result.rotten) found += this.report({ kind: 'record-rot', leaf, key: r.key });
        await replica.remove(result.rotten.map((r) => ({ key: r.key, expected: r.record })));
      }
      budget += result.records + 1;
      if (budget >= this.options.recordsPerSecondMax * sliceSeconds) {
        await timers.sleep((budget / this.options.recordsPerSecondMax) * 1000, signal);
        budget = 0;
        await this.deferred(signal);
      }
    }
    this.passes += 1;
    this.lastPassEndedAtMs = this.options.clock.now();
    return found;
  }

  private async deferred(signal?: AbortSignal): Promise<void> {
    const { deferWhile, deferMaxMs = 30_000 } = this.options;
    if (deferWhile === undefined) return;
    for (let waited = 0; waited < deferMaxMs && !signal?.aborted && deferWhile(); waited += deferPollMs) {
      await this.options.timers.sleep(deferPollMs, signal);
    }
  }

  private report(mismatch: VerificationMismatch): number {
    this.mismatches += 1;
    this.options.onMismatch?.(mismatch);
    return 1;
  }
}
