// `npm run bench -- converge [--json] [--keys N] [--throttle RECORDS_PER_S] [--runs R] [--in-process]
// [--settle MS] [--profile DIR] [--nice-restarted] [--pin ID=CPUS]… [--node-arg ARG]… [--set NAME=VALUE]…`
// (--set: any node setting by its flag name, e.g. --set ae-adaptive=true): a 3-node loopback cluster (hints
// and read repair off, so anti-entropy alone heals), one node down while N keys (default 100,000) are
// written, then started: time from its restart to equal digests, repair rate beside lmdb's raw write rate
// measured in the same run, and the foreground write latency p99 during the repair beside p99 with no repair
// running. The nodes are `converge serve` processes, one per node as they are deployed; --in-process runs
// them in the benchmark's own process instead (one event loop for the three nodes and the load). Both ratios
// are taken inside one run (the machine is shared); `--runs` repeats the whole measurement with a fresh
// cluster and prints the spread.
//
// --settle MS separates the restart from the repair: sessions run only on demand (--ae-interval 1h), the
// restarted node serves foreground writes for MS ms first (reported as foreground-after-restart), and then
// one session, n3 with n1 (the coordinator of the foreground load, the worst case), is started by POST
// /antientropy/run. The repair rate then counts from that request.
// --profile DIR writes a V8 CPU profile of every node process, one file per start. Diagnostics of the CPU
// contention between the co-located processes, never how nodes run: --nice-restarted starts n3 at OS priority
// 19; --pin ID=CPUS runs node ID (n1, n2, n3), or with ID `bench` the benchmark's own process, on the listed
// CPUs only (taskset -c CPUS; n3=1 with the others on 0 gives the repaired node a core of its own, as on a
// machine of its own). --node-arg passes ARG to the node binary of every node process (a V8 flag such as
// --max-semi-space-size=64, for experiments).

import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { RawSettings } from '../src/config/config.js';
import { type BenchCluster, inProcessCluster, processCluster } from './bench-cluster.js';
import { type LoadResult, loadPool, percentile, putLoad, slowest } from './load.js';
import { rawLmdbPutsPerSecond } from './raw-lmdb.js';
import { benchRoot } from './reconcile-fixtures.js';
import { Report } from './report.js';

const foregroundRate = 200;
/** Cap on foreground requests in flight; the load is paced (open-loop), so this only bounds the client. */
const foregroundInFlightMax = 32;
/**
 * A fresh cluster's write latency settles over about ten seconds (JIT tiers, caches): measured in windows of
 * 2.5 s after start, p99 went 265, 18, 10, 8.5, 6 and 4 ms. A shorter warm-up inflates the quiet p99 and so
 * flatters the ratio.
 */
const warmUpMs = 12_000;
const quietMs = 10_000;

interface Options {
  readonly n: number;
  readonly throttle: number;
  readonly settings: RawSettings;
  readonly inProcess: boolean;
  readonly settleMs: number;
  readonly profileDir: string | undefined;
  readonly niceRestarted: boolean;
  /** CPU lists by process (n1, n2, n3, or bench for this process), for taskset -c. */
  readonly pins: ReadonlyMap<string, string>;
  readonly nodeArgs: readonly string[];
}

export async function run(args: string[]): Promise<void> {
  const report = new Report(args.includes('--json'));
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const settings: RawSettings = {};
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const [name, value] = (args[i + 1] ?? '').split('=');
    if (name === undefined || value === undefined) throw new Error('--set NAME=VALUE');
    settings[name] = value === 'true' ? true : value === 'false' ? false : value;
  });
  const profileAt = args.indexOf('--profile');
  const options: Options = {
    n: option('--keys', 100_000),
    throttle: option('--throttle', 10_000_000),
    settings,
    inProcess: args.includes('--in-process'),
    settleMs: option('--settle', 0),
    profileDir: profileAt >= 0 ? args[profileAt + 1] : undefined,
    niceRestarted: args.includes('--nice-restarted'),
    pins: new Map(
      args.flatMap((a, i) => {
        if (a !== '--pin') return [];
        const m = /^(n1|n2|n3|bench)=([0-9][0-9,-]*)$/.exec(args[i + 1] ?? '');
        if (m === null)
          throw new Error(
            `--pin ID=CPUS: ID is n1, n2, n3 or bench and CPUS a CPU list such as 0 or 0-1 (got ${args[i + 1] ?? 'nothing'})`,
          );
        return [[m[1]!, m[2]!] as const];
      }),
    ),
    nodeArgs: args.flatMap((a, i) => {
      if (a !== '--node-arg') return [];
      const arg = args[i + 1];
      if (arg === undefined) throw new Error('--node-arg ARG: the option for the node binary is missing');
      return [arg];
    }),
  };
  const benchCpus = options.pins.get('bench');
  // This process (the load generator and the raw lmdb baseline) and the threads it has already started.
  if (benchCpus !== undefined)
    execFileSync('taskset', ['-a', '-p', '-c', benchCpus, String(process.pid)], { stdio: 'ignore' });
  const runs = option('--runs', 1);
  const results: Array<{ p99Ratio: number; ratioToRaw: number }> = [];
  for (let r = 1; r <= runs; r++) {
    if (runs > 1) process.stderr.write(`converge: run ${r} of ${runs}\n`);
    results.push(await measure(report, options, r));
  }
  if (runs > 1) {
    const spread = (xs: number[]): string => {
      const s = [...xs].sort((a, b) => a - b);
      return `${s[0]}–${s[s.length - 1]} (median ${s[Math.floor((s.length - 1) / 2)]})`;
    };
    report.add({
      bench: 'converge',
      impl: 'spread',
      throttle: options.throttle,
      n: options.n,
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
    'startMs',
    'ms',
    'recordsPerSec',
    'ratioToRaw',
    'cpuMsPer1k',
    'mainWaitMsPerS',
    'opsPerSec',
    'p50Ms',
    'p99Ms',
    'p99Ratio',
    'sessions',
  ]);
}

const ids = ['n1', 'n2', 'n3'];

async function measure(
  report: Report,
  { n, throttle, settings: extra, inProcess, settleMs, profileDir, niceRestarted, pins, nodeArgs }: Options,
  runNo: number,
): Promise<{ p99Ratio: number; ratioToRaw: number }> {
  const root = benchRoot();
  const settings: RawSettings = {
    hints: false,
    'read-repair': false,
    'ae-interval': settleMs > 0 ? '1h' : '500ms',
    'ae-records-per-second': String(throttle),
    'ae-bytes-per-second': '10GiB',
    sync: 'group',
    ...extra,
  };
  const basePort = 22_000 + Math.floor(Math.random() * 50) * 10;
  const cluster = inProcess
    ? inProcessCluster(root, basePort, settings)
    : processCluster(root, basePort, settings, {
        ...(profileDir === undefined ? {} : { profileDir }),
        ...(niceRestarted ? { niceNode: 'n3' } : {}),
        ...(pins.size === 0 ? {} : { pins }),
        ...(nodeArgs.length === 0 ? {} : { nodeArgs }),
      });
  // One pool for every phase: the warm-up opens the connections the measured phases then use, so neither
  // window starts with connection set-up.
  const pool = loadPool(cluster.url('n1'), foregroundInFlightMax);
  const load = (keyPrefix: string, durationMs: number, signal?: AbortSignal) =>
    putLoad(cluster.url('n1'), {
      pool,
      consistency: 'quorum',
      inFlight: foregroundInFlightMax,
      durationMs,
      keyPrefix,
      valueBytes: 100,
      ratePerSecond: foregroundRate,
      ...(signal === undefined ? {} : { signal }),
    });
  const cpu = (): number[] => ids.map((id) => cluster.cpuMs(id));
  const threads = () => ids.map((id) => cluster.threadMs(id));
  try {
    await cluster.startAll();
    await load('fg-warm-', warmUpMs);
    const quietCpu0 = cpu();
    const quietThreads0 = threads();
    const quiet = await load('fg-quiet-', quietMs);
    const quietThreads = threads();
    // CPU each node spends on the foreground load alone, per second: subtracted from the repair window below.
    const foregroundCpuPerS = cpu().map((c, i) => (c - quietCpu0[i]!) / quiet.seconds);
    await cluster.stop('n3');
    process.stderr.write(`converge: writing ${n.toLocaleString()} keys with n3 down…\n`);
    await cluster.writeKeys(['n1', 'n2'], n, 100);
    // Writes at `one` may miss the other live replica; with sessions only on demand, repair n1 and n2 now.
    if (settleMs > 0) await cluster.runNow('n1', 'n2');
    await waitEqual(cluster, ['n1', 'n2'], 120_000);
    const restarted = performance.now();
    await cluster.start('n3');
    const listening = performance.now();
    let started = listening;
    let afterRestart: LoadResult | undefined;
    let session: Promise<void> = Promise.resolve();
    if (settleMs > 0) {
      afterRestart = await load('fg-settle-', settleMs);
      started = performance.now();
      session = cluster.runNow('n3', 'n1');
    }
    const repairCpu0 = cpu();
    const repairThreads0 = threads();
    const stopForeground = new AbortController();
    const during = load('fg-repair-', 600_000, stopForeground.signal);
    await waitFor(async () => (await cluster.view('n3')).keys >= n, 600_000);
    stopForeground.abort();
    const fg = await during;
    await waitEqual(cluster, ['n1', 'n2', 'n3'], 120_000);
    const done = performance.now();
    const repairCpu = cpu();
    const repairThreads = threads();
    await session;
    const convergedSeconds = (done - started) / 1000;
    // CPU per 1,000 repaired records on each node, the foreground's share (at the quiet window's rate, for
    // the time the load ran) taken out.
    const cpuMsPer1k = ids
      .map((id, i) => {
        const spent = repairCpu[i]! - repairCpu0[i]! - foregroundCpuPerS[i]! * fg.seconds;
        const low = repairThreads[i]!.lowPriorityCpuMs - repairThreads0[i]!.lowPriorityCpuMs;
        return `${id} ${Math.round(spent / (n / 1000))} (low ${Math.round(low / (n / 1000))})`;
      })
      .join(', ');
    // How long each node's main thread waited for a core, per second: quiet, then during the repair.
    const mainWaitMsPerS = ids
      .map((id, i) => {
        const q = (quietThreads[i]!.mainWaitMs - quietThreads0[i]!.mainWaitMs) / quiet.seconds;
        const r = (repairThreads[i]!.mainWaitMs - repairThreads0[i]!.mainWaitMs) / convergedSeconds;
        return `${id} ${Math.round(q)}→${Math.round(r)}`;
      })
      .join(', ');
    // Digests are equal once the last batch lands, a moment before the session ends and is recorded.
    let sessions = '';
    await waitFor(async () => {
      sessions = await repairSessions(cluster);
      return sessions !== '';
    }, 10_000).catch(() => {});
    const raw = await rawLmdbPutsPerSecond(root, 'group', 100_000, 100, 32);
    // Conservative: the whole time from the node listening (or the session's request, with --settle) to equal
    // digests counts, foreground writes included (with processes, the process's own start-up is reported
    // apart, as startMs).
    const repairRate = n / convergedSeconds;
    const ratioToRaw = round(repairRate / raw);
    const p99Ratio = round(percentile(fg.latenciesMs, 99) / percentile(quiet.latenciesMs, 99));
    report.add({
      bench: 'converge',
      impl: `converge (${cluster.kind})`,
      run: runNo,
      throttle,
      n,
      startMs: Math.round(listening - restarted),
      ...(settleMs > 0 ? { settleMs } : {}),
      ms: Math.round(convergedSeconds * 1000),
      records: n,
      recordsPerSec: Math.round(repairRate),
      ratioToRaw,
      ...(inProcess ? {} : { cpuMsPer1k, mainWaitMsPerS }),
      sessions,
      ...(Object.keys(extra).length === 0 ? {} : { settings: JSON.stringify(extra) }),
      ...(niceRestarted ? { nice: 'n3 at 19' } : {}),
      ...(pins.size === 0 ? {} : { pins: [...pins].map(([id, cpus]) => `${id}@${cpus}`).join(' ') }),
      ...(nodeArgs.length === 0 ? {} : { nodeArgs: nodeArgs.join(' ') }),
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
      ...(afterRestart === undefined ? [] : ([['foreground-after-restart', afterRestart]] as const)),
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
        slowest: slowest(r, 8),
        clientLagMs: `${round(r.clientLagP99Ms)} p99, ${round(r.clientLagMaxMs)} max`,
      });
    }
    return { p99Ratio, ratioToRaw };
  } finally {
    await pool.close();
    await cluster.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Which sessions moved records to n3, as n1's and n2's histories tell (both ends record a session):
 * "n1→n3 61234 by n3 in 290 trips" = n3 began it and pulled 61,234 records from n1 in 290 round trips.
 */
async function repairSessions(cluster: BenchCluster): Promise<string> {
  const out: string[] = [];
  for (const id of ['n1', 'n2']) {
    for (const h of await cluster.history(id)) {
      if (h.peer !== 'n3' || h.keysPushed === 0) continue;
      out.push(
        `${id}→n3 ${h.keysPushed} by ${h.initiator} in ${h.roundTrips} trips${h.result === 'failed' ? ' (failed)' : ''}`,
      );
    }
  }
  return out.join(', ');
}

const round = (x: number): number => Number(x.toFixed(2));

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitEqual(cluster: BenchCluster, ids: string[], timeoutMs: number): Promise<void> {
  await waitFor(
    async () => new Set(await Promise.all(ids.map(async (id) => (await cluster.view(id)).root))).size === 1,
    timeoutMs,
  );
}
