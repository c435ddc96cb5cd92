// `npm run bench -- write [--json]`: single-key PUT throughput and latency at one, quorum and all on a 3-node
// loopback cluster (real HTTP between nodes, lmdb, sync group), a pipelined figure with many requests in
// flight, and lmdb's raw put rate in the same run, so the write path's overhead shows as a ratio.

import { LocalCluster } from '../src/cli/cluster.js';
import { extendWithAntiEntropy } from '../src/cli/wiring.js';
import { benchRoot } from './reconcile-fixtures.js';
import { percentile, putLoad } from './load.js';
import { rawLmdbPutsPerSecond } from './raw-lmdb.js';
import { Report } from './report.js';
import { rmSync } from 'node:fs';

const valueBytes = 100;
const durationMs = 6000;

export async function run(args: string[]): Promise<void> {
  const report = new Report(args.includes('--json'));
  const root = benchRoot();
  const cluster = new LocalCluster({ nodes: 3, basePort: 21_000 + Math.floor(Math.random() * 50) * 10, dataRoot: root, extend: extendWithAntiEntropy, settings: { sync: 'group', 'ae-interval': '10s' } });
  try {
    await cluster.startAll();
    const url = cluster.url('n1');
    for (const [consistency, inFlight, label] of [['one', 32, 'single'], ['quorum', 32, 'single'], ['all', 32, 'single'], ['quorum', 256, 'pipelined']] as const) {
      process.stderr.write(`write: ${consistency}, ${inFlight} in flight…\n`);
      const r = await putLoad(url, { consistency, inFlight, durationMs, keyPrefix: `${consistency}-${inFlight}-`, valueBytes });
      report.add({
        bench: 'write', impl: 'converge', mode: label, consistency, inFlight, opsPerSec: Math.round(r.ops / r.seconds),
        p50Ms: Number(percentile(r.latenciesMs, 50).toFixed(2)), p99Ms: Number(percentile(r.latenciesMs, 99).toFixed(2)), failed: r.failed,
      });
    }
    process.stderr.write('write: raw lmdb…\n');
    const raw = await rawLmdbPutsPerSecond(root, 'group', 100_000, valueBytes, 32);
    report.add({ bench: 'write', impl: 'baseline-lmdb-raw', mode: 'single', consistency: '-', inFlight: 32, opsPerSec: Math.round(raw) });
  } finally {
    await cluster.close();
    rmSync(root, { recursive: true, force: true });
  }
  report.print(['bench', 'impl', 'mode', 'consistency', 'inFlight', 'opsPerSec', 'p50Ms', 'p99Ms', 'failed']);
}

