// HTTP load for the write and converge benchmarks: PUTs through an undici Pool with a fixed number in flight,
// recording each request's latency.

import { Pool } from 'undici';

export interface LoadResult {
  readonly ops: number;
  readonly failed: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
}

export async function putLoad(
  url: string,
  options: { consistency: string; inFlight: number; durationMs: number; keyPrefix: string; valueBytes: number; ratePerSecond?: number; signal?: AbortSignal },
): Promise<LoadResult> {
  const pool = new Pool(url, { connections: Math.min(options.inFlight, 64), pipelining: Math.max(1, Math.ceil(options.inFlight / 64)) });
  const value = Buffer.alloc(options.valueBytes, 0x61);
  const latencies: number[] = [];
  let failed = 0;
  let seq = 0;
  const start = performance.now();
  const deadline = start + options.durationMs;
  const gapMs = options.ratePerSecond === undefined ? 0 : (1000 * options.inFlight) / options.ratePerSecond;
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (performance.now() < deadline && !options.signal?.aborted) {
        const t0 = performance.now();
        const key = `${options.keyPrefix}${seq++}`;
        try {
          const res = await pool.request({ method: 'PUT', path: `/kv/${key}?consistency=${options.consistency}`, body: value });
          await res.body.dump();
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
          else failed += 1;
        } catch {
          failed += 1;
        }
        if (gapMs > 0) await new Promise((r) => setTimeout(r, Math.max(0, gapMs - (performance.now() - t0))));
      }
    }),
  );
  await pool.close();
  return { ops: latencies.length, failed, seconds: (performance.now() - start) / 1000, latenciesMs: latencies };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
