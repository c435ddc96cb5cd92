// `npm run bench -- converge [--json] [--keys N] [--throttle RECORDS_PER_S] [--runs R] [--set NAME=VALUE]…`
// (--set: any node setting by its flag name, e.g. --set ae-adaptive=false): a 3-node loopback cluster
// (hints and read repair off, so anti-entropy alone heals), one node down while N keys (default 100,000) are
// written, then started: time from its restart to equal digests, repair rate beside lmdb's raw write rate
// measured in the same run, and the foreground write latency p99 during the repair beside p99 with no repair
// running. Both ratios are taken inside one run (the machine is shared); `--runs` repeats the whole measurement
// with a fresh cluster and prints the spread.

import { rmSync } from 'node:fs';
import { LocalCluster } from '../src/cli/cluster.js';
import { extendWithAntiEntropy } from '../src/cli/wiring.js';
import type { RawSettings } from '../src/config/config.js';
import { percentile, putLoad } from './load.js';
import { rawLmdbPutsPerSecond } from './raw-lmdb.js';
import { benchRoot } from './reconcile-fixtures.js';
import { Report } from './report.js';

const foregroundRate = 200;
/** Cap on foreground requests in flight; the load is paced (open-loop), so this only bounds the client. */
const foregroundInFlightMax = 32;
const warmUpMs = 3000;
const quietMs = 10_000;

export async function run(args: string[]): Promise<void> {
  const report = new Report(args.includes('--json'));
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const n = option('--keys', 100_000);
  const throttle = option('--throttle', 10_000_000);
  const runs = option('--runs', 1);
  const settings: RawSettings = {};
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const [name, value] = (args[i + 1] ?? '').split('=');
    if (name === undefined || value === undefined) throw new Error('--set NAME=VALUE');
    settings[name] = value === 'true' ? true : value === 'false' ? false : value;
  });
  const results: Array<{ p99Ratio: number; ratioToRaw: number }> = [];
  for (let r = 1; r <= runs; r++) {
    if (runs > 1) process.stderr.write(`converge: run ${r} of ${runs}\n`);
    results.push(await measure(report, n, throttle, settings, r));
  }
  if (runs > 1) {
    const spread = (xs: number[]): string => {
      const s = [...xs].sort((a, b) => a - b);
      return `${s[0]}–${s[s.length - 1]} (median ${s[Math.floor((s.length - 1) / 2)]})`;
    };
    report.add({
      bench: 'converge',
      impl: 'spread',
      throttle,
      n,
      run: `${runs} runs`,
      ratioToRaw: spread(results.map((x) => x.ratioToRaw)),
      p99Ratio: spread(results.map((x) => x.p99Ratio)),
    });
  }
  report.print([
    'bench',
    'impl',
    'run',
    'throttle',
    'n',
    'ms',
    'recordsPerSec',
    'ratioToRaw',
    'opsPerSec',
    'p50Ms',
    'p99Ms',
    'p99Ratio',
    'sessions',
  ]);
}

async function measure(
  report: Report,
  n: number,
  throttle: number,
  extra: RawSettings,
  runNo: number,
): Promise<{ p99Ratio: number; ratioToRaw: number }> {
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
      'ae-records-per-second': String(throttle),
      'ae-bytes-per-second': '10GiB',
      sync: 'group',
      ...extra,
    },
  });
  const load = (keyPrefix: string, durationMs: number, signal?: AbortSignal) =>
    putLoad(cluster.url('n1'), {
      consistency: 'quorum',
      inFlight: foregroundInFlightMax,
      durationMs,
      keyPrefix,
      valueBytes: 100,
      ratePerSecond: foregroundRate,
      ...(signal === undefined ? {} : { signal }),
    });
  try {
    await cluster.startAll();
    await load('fg-warm-', warmUpMs);
    const quiet = await load('fg-quiet-', quietMs);
    await cluster.stop('n3');
    process.stderr.write(`converge: writing ${n.toLocaleString()} keys with n3 down…\n`);
    await writeKeys(cluster, n);
    await waitEqual(cluster, ['n1', 'n2'], 120_000);
    const started = performance.now();
    await cluster.start('n3');
    const stopForeground = new AbortController();
    const during = load('fg-repair-', 600_000, stopForeground.signal);
    await waitFor(() => cluster.node('n3').ctx.replica.digest.count() >= n, 600_000);
    stopForeground.abort();
    const fg = await during;
    await waitEqual(cluster, ['n1', 'n2', 'n3'], 120_000);
    const convergedSeconds = (performance.now() - started) / 1000;
    const sessions = repairSessions(cluster);
    const raw = await rawLmdbPutsPerSecond(root, 'group', 100_000, 100, 32);
    // Conservative: the whole time from restart to equal digests counts, foreground writes included.
    const repairRate = n / convergedSeconds;
    const ratioToRaw = round(repairRate / raw);
    const p99Ratio = round(percentile(fg.latenciesMs, 99) / percentile(quiet.latenciesMs, 99));
    report.add({
      bench: 'converge',
      impl: 'converge',
      run: runNo,
      throttle,
      n,
      ms: Math.round(convergedSeconds * 1000),
      records: n,
      recordsPerSec: Math.round(repairRate),
      ratioToRaw,
      sessions,
      ...(Object.keys(extra).length === 0 ? {} : { settings: JSON.stringify(extra) }),
    });
    report.add({
      bench: 'converge',
      impl: 'baseline-lmdb-raw',
      run: runNo,
      n: 100_000,
      recordsPerSec: Math.round(raw),
    });
    for (const [impl, r] of [
      ['foreground-quiet', quiet],
      ['foreground-during-repair', fg],
    ] as const) {
      report.add({
        bench: 'converge',
        impl,
        run: runNo,
        consistency: 'quorum',
        opsPerSec: Math.round(r.ops / r.seconds),
        failed: r.failed,
        p50Ms: round(percentile(r.latenciesMs, 50)),
        p99Ms: round(percentile(r.latenciesMs, 99)),
        ...(r === fg ? { p99Ratio } : {}),
      });
    }
    return { p99Ratio, ratioToRaw };
  } finally {
    await cluster.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Which sessions moved records to n3, as n1's and n2's histories tell (both ends record a session):
 * "n1→n3 61234 by n3" = n3 began it and pulled 61,234 records from n1.
 */
function repairSessions(cluster: LocalCluster): string {
  const out: string[] = [];
  for (const id of ['n1', 'n2']) {
    for (const h of cluster.node(id).ctx.antiEntropy?.status().history ?? []) {
      if (h.peer !== 'n3' || h.keysPushed === 0) continue;
      out.push(`${id}→n3 ${h.keysPushed} by ${h.initiator}${h.result === 'failed' ? ' (failed)' : ''}`);
    }
  }
  return out.join(', ');
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
