// HTTP load for the write and converge benchmarks: PUTs through an undici Pool with a fixed number in flight
// (or paced at a fixed rate, open-loop), recording each request's latency.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface LoadResult {
  readonly ops: number;
  readonly failed: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
  /** When each request was due, ms from the start, in the order of latenciesMs. */
  readonly dueAtMs: number[];
  /**
   * The load generator's own event-loop delay, p99 and max in ms: on a shared machine the client is slowed
   * too, and its delay counts in every latency (open-loop, from the due time).
   */
  readonly clientLagP99Ms: number;
  readonly clientLagMaxMs: number;
}

/** The `n` slowest requests as "latency@due" (ms), slowest first: when in the run the tail happened. */
export function slowest(r: LoadResult, n: number): string {
  return r.latenciesMs
    .map((ms, i) => [ms, r.dueAtMs[i]!] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, n)
    .map(([ms, at]) => `${Math.round(ms)}@${Math.round(at)}`)
    .join(' ');
}

export async function putLoad(
  url: string,
  options: {
    consistency: string;
    inFlight: number;
    durationMs: number;
    keyPrefix: string;
    valueBytes: number;
    ratePerSecond?: number;
    signal?: AbortSignal;
    /** Connections to reuse (warmed by an earlier phase); without it the load opens and closes its own. */
    pool?: Pool;
  },
): Promise<LoadResult> {
  const pool = options.pool ?? loadPool(url, options.inFlight);
  const value = Buffer.alloc(options.valueBytes, 0x61);
  const latencies: number[] = [];
  const dueAt: number[] = [];
  let failed = 0;
  let seq = 0;
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const start = performance.now();
  const deadline = start + options.durationMs;
  // Paced load is open-loop: request i is due at start + i × gap, and its latency counts from then, so a
  // stalled server is charged for the requests it delayed (no coordinated omission).
  const gapMs = options.ratePerSecond === undefined ? 0 : 1000 / options.ratePerSecond;
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (performance.now() < deadline && !options.signal?.aborted) {
        const i = seq++;
        let t0 = performance.now();
        if (gapMs > 0) {
          t0 = start + i * gapMs;
          if (t0 >= deadline) break;
          if (t0 > performance.now()) await new Promise((r) => setTimeout(r, t0 - performance.now()));
          if (options.signal?.aborted) break;
        }
        const key = `${options.keyPrefix}${i}`;
        try {
          const res = await pool.request({
            method: 'PUT',
            path: `/kv/${key}?consistency=${options.consistency}`,
            body: value,
          });
          await res.body.dump();
          if (res.statusCode === 200) {
            latencies.push(performance.now() - t0);
            dueAt.push(t0 - start);
          } else failed += 1;
        } catch {
          failed += 1;
        }
      }
    }),
  );
  lag.disable();
  if (options.pool === undefined) await pool.close();
  return {
    ops: latencies.length,
    failed,
    seconds: (performance.now() - start) / 1000,
    latenciesMs: latencies,
    dueAtMs: dueAt,
    clientLagP99Ms: lag.percentile(99) / 1e6,
    clientLagMaxMs: lag.max / 1e6,
  };
}

/** A connection pool for `inFlight` requests at once. */
export function loadPool(url: string, inFlight: number): Pool {
  return new Pool(url, {
    connections: Math.min(inFlight, 64),
    pipelining: Math.max(1, Math.ceil(inFlight / 64)),
  });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
