// Background verification: walks the digest leaf by leaf, recomputing each from storage, at a throttled
// pace, while exchanges and writes go on. It catches bugs in incremental maintenance (drift) and bit rot.
// Passes keep their schedule across restarts: the end of the last complete pass is kept in the replica's
// metadata, and a start never begins a pass at once (a node that was down is catching up then, and its digest
// was just rebuilt from storage).

import { backgroundFailures, logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import { PartitionSymbols } from '../core/partition-symbols.js';
import { CodedSymbols } from '../core/riblt.js';
import type { Timers } from '../core/timers.js';
import type { LocalReplica, SymbolShadow } from './replica.js';

export interface VerificationMismatch {
  /** symbol-drift: the maintained coded symbols differed from the records at the end of a pass (leaf -1). */
  readonly kind: 'digest-drift' | 'record-rot' | 'symbol-drift';
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
  /**
   * After a start, the first pass waits at least this long, and otherwise until one interval after the last
   * complete pass (of this or an earlier incarnation) ended.
   */
  readonly startDelayMs?: number;
  readonly onMismatch?: (mismatch: VerificationMismatch) => void;
  /**
   * While this says so (asked between slices), the pass waits: anti-entropy repair on this node goes first,
   * since both compete for the same event loop and the repair is what the replica is behind on. A pass waits
   * at most `deferMaxMs` in a row, so continuous repair cannot stop verification for good.
   */
  readonly deferWhile?: () => boolean;
  readonly deferMaxMs?: number;
  /** After a pass that failed (a storage error, a bug), the next begins this long after, at most. */
  readonly failedPassRetryMs?: number;
  /** Told of every pass that failed (it is also logged and counted as `verification pass`). */
  readonly onPassFailed?: (err: unknown) => void;
}

/** How often a deferred pass looks again. */
const deferPollMs = 250;

/** Default of VerifierOptions.failedPassRetryMs. */
export const failedPassRetryMsDefault = 60_000;

/** Default of VerifierOptions.startDelayMs. */
export const verifyStartDelayMsDefault = 60_000;

/** Metadata entry holding the end of the last complete pass (ms since the epoch, as decimal text). */
const lastPassMeta = 'verify/last-pass-ended';

/**
 * Work between sleeps, as a share of a second's budget: small, because each slice holds the event loop (an
 * empty leaf still costs a storage range lookup, so a slice of 2,000 leaves held it for ~100 ms).
 */
const sliceSeconds = 0.01;

export class DigestVerifier {
  passes = 0;
  mismatches = 0;
  /** Passes that stopped on an error; verification carries on with the next. */
  failedPasses = 0;
  lastFailure: string | null = null;
  running = false;
  lastPassEndedAtMs: number | null;
  /** When the next pass begins; null while one runs, and before run(). */
  nextPassAtMs: number | null = null;

  constructor(private readonly options: VerifierOptions) {
    const kept = options.replica.getMeta(lastPassMeta);
    const ms = kept === undefined ? Number.NaN : Number(new TextDecoder().decode(kept));
    // An unreadable entry only costs the schedule: the first pass is then due at once (after the start
    // delay).
    this.lastPassEndedAtMs = Number.isFinite(ms) ? ms : null;
  }

  /** Runs passes until the signal aborts, the first after the start delay or when the last pass says. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, timers, passIntervalMs, startDelayMs = verifyStartDelayMsDefault } = this.options;
    this.running = true;
    try {
      // Never later than one interval from now, whatever the wall clock did since the last pass.
      const due = this.lastPassEndedAtMs === null ? 0 : this.lastPassEndedAtMs + passIntervalMs - clock.now();
      let waitMs = Math.max(startDelayMs, Math.min(due, passIntervalMs));
      while (!signal.aborted) {
        this.nextPassAtMs = clock.now() + waitMs;
        await timers.sleep(waitMs, signal);
        this.nextPassAtMs = null;
        const completed = await this.passOrReport(signal);
        const retryMs = this.options.failedPassRetryMs ?? failedPassRetryMsDefault;
        waitMs = completed ? passIntervalMs : Math.min(passIntervalMs, retryMs);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      this.running = false;
      this.nextPassAtMs = null;
    }
  }

  /**
   * One pass; a pass that throws is logged, counted and retried later, never the end of verification (a
   * storage hiccup would otherwise leave the node unverified for the life of the process, without a trace).
   */
  private async passOrReport(signal: AbortSignal): Promise<boolean> {
    try {
      await this.pass(signal);
      return true;
    } catch (err) {
      if (signal.aborted) throw err;
      this.failedPasses += 1;
      this.lastFailure = err instanceof Error ? err.message : String(err);
      backgroundFailures.record('verification pass', err);
      this.options.onPassFailed?.(err);
      return false;
    }
  }

  /**
   * One full pass over every leaf; returns the mismatches found. The coded symbols are rebuilt beside the
   * maintained ones as the leaves are read, and compared once every leaf has been.
   */
  async pass(signal?: AbortSignal): Promise<number> {
    const { replica } = this.options;
    const rebuilds = replica.rebuilds;
    const own = replica.symbols;
    const parts = replica.partitionSymbols;
    const shadow: SymbolShadow | null =
      own === undefined && parts === undefined
        ? null
        : {
            symbols: own === undefined ? undefined : new CodedSymbols(own.size),
            partitions:
              parts === undefined ? undefined : new PartitionSymbols(parts.partitionBits, parts.size),
            leafEnd: 0,
          };
    replica.symbolShadow = shadow;
    try {
      let found = await this.leaves(signal);
      // A rebuild during the pass cleared the maintained symbols, not the copies: nothing to compare now.
      if (signal?.aborted || shadow === null || replica.rebuilds !== rebuilds || !replica.digestReady) {
        return found;
      }
      if (own !== undefined && shadow.symbols !== undefined && !shadow.symbols.equals(own)) {
        own.copyFrom(shadow.symbols);
        found += this.report({ kind: 'symbol-drift', leaf: -1 });
      }
      if (parts !== undefined && shadow.partitions !== undefined && !shadow.partitions.equals(parts)) {
        parts.copyFrom(shadow.partitions);
        found += this.report({ kind: 'symbol-drift', leaf: -1 });
      }
      return found;
    } finally {
      replica.symbolShadow = null;
    }
  }

  private async leaves(signal?: AbortSignal): Promise<number> {
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
    // Losing this write only loses the schedule (the next start verifies sooner); a failing storage shows in
    // the writes that matter.
    await replica
      .putMeta(lastPassMeta, new TextEncoder().encode(String(this.lastPassEndedAtMs)))
      .catch(logFailure('verification schedule write'));
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
