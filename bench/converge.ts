// `npm run bench -- converge [--json] [--keys N] [--throttle RECORDS_PER_S]`: a 3-node loopback cluster (hints and read repair off, so
// anti-entropy alone heals), one node down while N keys (default 100,000) are written, then started: time from
// its restart to equal digests, repair rate beside lmdb's raw write rate measured in the same run, and the
// foreground write latency p99 during the repair beside p99 with no repair running.

import { rmSync } from 'node:fs';
import { LocalCluster } from '../src/cli/cluster.js';
import { extendWithAntiEntropy } from '../src/cli/wiring.js';
import { percentile, putLoad } from './load.js';
import { rawLmdbPutsPerSecond } from './raw-lmdb.js';
import { benchRoot } from './reconcile-fixtures.js';
import { Report } from './report.js';

const foregroundRate = 200;

export async function run(args: string[]): Promise<void> {
  const report = new Report(args.includes('--json'));
  const at = args.indexOf('--keys');
  const n = at >= 0 ? Number(args[at + 1]) : 100_000;
  const t = args.indexOf('--throttle');
  const throttle = t >= 0 ? String(Number(args[t + 1])) : '10000000';
  const root = benchRoot();
  const cluster = new LocalCluster({
    nodes: 3,
    basePort: 22_000 + Math.floor(Math.random() * 50) * 10,
    dataRoot: root,
    extend: extendWithAntiEntropy,
    settings: {
      hints: false,
      'read-repair': false,
      'ae-interval': '500ms',
      'ae-records-per-second': throttle,
      'ae-bytes-per-second': '10GiB',
      sync: 'group',
    },
  });
  try {
    await cluster.startAll();
    const quiet = await putLoad(cluster.url('n1'), {
      consistency: 'quorum',
      inFlight: 4,
      durationMs: 5000,
      keyPrefix: 'fg-quiet-',
      valueBytes: 100,
      ratePerSecond: foregroundRate,
    });
    await cluster.stop('n3');
    process.stderr.write(`converge: writing ${n.toLocaleString()} keys with n3 down…\n`);
    await writeKeys(cluster, n);
    await waitEqual(cluster, ['n1', 'n2'], 120_000);
    const started = performance.now();
    await cluster.start('n3');
    const stopForeground = new AbortController();
    const during = putLoad(cluster.url('n1'), {
      consistency: 'quorum',
      inFlight: 4,
      durationMs: 600_000,
      keyPrefix: 'fg-repair-',
      valueBytes: 100,
      ratePerSecond: foregroundRate,
      signal: stopForeground.signal,
    });
    await waitFor(() => cluster.node('n3').ctx.replica.digest.count() >= n, 600_000);
    stopForeground.abort();
    const fg = await during;
    await waitEqual(cluster, ['n1', 'n2', 'n3'], 120_000);
    const convergedSeconds = (performance.now() - started) / 1000;
    const raw = await rawLmdbPutsPerSecond(root, 'group', 100_000, 100, 32);
    // Conservative: the whole time from restart to equal digests counts, foreground writes included.
    const repairRate = n / convergedSeconds;
    report.add({
      bench: 'converge',
      impl: 'converge',
      throttle: Number(throttle),
      n,
      ms: Math.round(convergedSeconds * 1000),
      records: n,
      recordsPerSec: Math.round(repairRate),
      ratioToRaw: Number((repairRate / raw).toFixed(2)),
    });
    report.add({ bench: 'converge', impl: 'baseline-lmdb-raw', n: 100_000, recordsPerSec: Math.round(raw) });
    report.add({
      bench: 'converge',
      impl: 'foreground-quiet',
      consistency: 'quorum',
      opsPerSec: Math.round(quiet.ops / quiet.seconds),
      p50Ms: round(percentile(quiet.latenciesMs, 50)),
      p99Ms: round(percentile(quiet.latenciesMs, 99)),
    });
    report.add({
      bench: 'converge',
      impl: 'foreground-during-repair',
      consistency: 'quorum',
      opsPerSec: Math.round(fg.ops / fg.seconds),
      p50Ms: round(percentile(fg.latenciesMs, 50)),
      p99Ms: round(percentile(fg.latenciesMs, 99)),
      p99Ratio: round(percentile(fg.latenciesMs, 99) / percentile(quiet.latenciesMs, 99)),
    });
  } finally {
    await cluster.close();
    rmSync(root, { recursive: true, force: true });
  }
  report.print([
    'bench',
    'impl',
    'throttle',
    'n',
    'ms',
    'records',
    'recordsPerSec',
    'ratioToRaw',
    'opsPerSec',
    'p50Ms',
    'p99Ms',
    'p99Ratio',
  ]);
}

const round = (x: number): number => Number(x.toFixed(2));

async function writeKeys(cluster: LocalCluster, n: number): Promise<void> {
  const nodes = [cluster.node('n1').ctx.node, cluster.node('n2').ctx.node];
  const value = new Uint8Array(100).fill(0x62);
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async (_, w) => {
      while (next < n) {
        const i = next++;
        await nodes[w % 2]!.put(`bulk-${i}`, value, 'one');
        if (i % 10_000 === 0) process.stderr.write(`\r  ${i.toLocaleString()} written`);
      }
    }),
  );
  process.stderr.write('\n');
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitEqual(cluster: LocalCluster, ids: string[], timeoutMs: number): Promise<void> {
  await waitFor(
    () => new Set(ids.map((id) => cluster.node(id).ctx.replica.digest.rootHex())).size === 1,
    timeoutMs,
  );
}
