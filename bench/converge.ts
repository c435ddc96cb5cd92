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
  const options = parseOptions(args);
  const benchCpus = options.pins.get('bench');
  // This process (the load generator and the raw lmdb baseline) and the threads it has already started.
  if (benchCpus !== undefined)
    execFileSync('taskset', ['-a', '-p', '-c', benchCpus, String(process.pid)], { stdio: 'ignore' });
  const runs = numberOption(args, '--runs', 1);
  const results: RunResult[] = [];
  for (let r = 1; r <= runs; r++) {
    if (runs > 1) process.stderr.write(`converge: run ${r} of ${runs}\n`);
    results.push(await measure(report, options, r));
  }
  if (runs > 1) reportSpread(report, options, results);
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

interface RunResult {
  readonly p99Ratio: number;
  readonly ratioToRaw: number;
}

function numberOption(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

function parseOptions(args: readonly string[]): Options {
  const settings: RawSettings = {};
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const [name, value] = (args[i + 1] ?? '').split('=');
    if (name === undefined || value === undefined) throw new Error('--set NAME=VALUE');
    settings[name] = value === 'true' ? true : value === 'false' ? false : value;
  });
  const profileAt = args.indexOf('--profile');
  return {
    n: numberOption(args, '--keys', 100_000),
    throttle: numberOption(args, '--throttle', 10_000_000),
    settings,
    inProcess: args.includes('--in-process'),
    settleMs: numberOption(args, '--settle', 0),
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
}

/** With --runs above 1: the lowest, highest and median of each ratio over the runs. */
function reportSpread(report: Report, options: Options, results: readonly RunResult[]): void {
  const spread = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `${s[0]}–${s[s.length - 1]} (median ${s[Math.floor((s.length - 1) / 2)]})`;
  };
  report.add({
    bench: 'converge',
    impl: 'spread',
    throttle: options.throttle,
    n: options.n,
    run: `${results.length} runs`,
    ratioToRaw: spread(results.map((x) => x.ratioToRaw)),
    p99Ratio: spread(results.map((x) => x.p99Ratio)),
  });
}

const ids = ['n1', 'n2', 'n3'];

type Load = (keyPrefix: string, durationMs: number, signal?: AbortSignal) => Promise<LoadResult>;
type ThreadMs = ReturnType<BenchCluster['threadMs']>;

const cpuOf = (cluster: BenchCluster): number[] => ids.map((id) => cluster.cpuMs(id));
const threadsOf = (cluster: BenchCluster): ThreadMs[] => ids.map((id) => cluster.threadMs(id));

async function measure(report: Report, options: Options, runNo: number): Promise<RunResult> {
  const root = benchRoot();
  const cluster = benchCluster(root, options);
  // One pool for every phase: the warm-up opens the connections the measured phases then use, so neither
  // window starts with connection set-up.
  const pool = loadPool(cluster.url('n1'), foregroundInFlightMax);
  const load: Load = (keyPrefix, durationMs, signal) =>
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
  try {
    await cluster.startAll();
    const quiet = await measureQuiet(cluster, load);
    await writeWithN3Down(cluster, options);
    const repair = await measureRepair(cluster, load, options);
    // Digests are equal once the last batch lands, a moment before the session ends and is recorded.
    let sessions = '';
    await waitFor(async () => {
      sessions = await repairSessions(cluster);
      return sessions !== '';
    }, 10_000).catch(() => {});
    const raw = await rawLmdbPutsPerSecond(root, 'group', 100_000, 100, 32);
    return reportRun(report, options, runNo, { kind: cluster.kind, quiet, repair, sessions, raw });
  } finally {
    await pool.close();
    await cluster.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** The cluster of one run: hints and read repair off, so that anti-entropy alone heals. */
function benchCluster(
  root: string,
  { throttle, settings: extra, inProcess, settleMs, profileDir, niceRestarted, pins, nodeArgs }: Options,
): BenchCluster {
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
  return inProcess
    ? inProcessCluster(root, basePort, settings)
    : processCluster(root, basePort, settings, {
        ...(profileDir === undefined ? {} : { profileDir }),
        ...(niceRestarted ? { niceNode: 'n3' } : {}),
        ...(pins.size === 0 ? {} : { pins }),
        ...(nodeArgs.length === 0 ? {} : { nodeArgs }),
      });
}

interface QuietPhase {
  readonly load: LoadResult;
  readonly threads0: readonly ThreadMs[];
  readonly threads: readonly ThreadMs[];
  /** CPU ms each node spends on the foreground load alone, per second. */
  readonly foregroundCpuPerS: readonly number[];
}

/** The warm-up, then the foreground load with no repair running. */
async function measureQuiet(cluster: BenchCluster, load: Load): Promise<QuietPhase> {
  await load('fg-warm-', warmUpMs);
  const cpu0 = cpuOf(cluster);
  const threads0 = threadsOf(cluster);
  const quiet = await load('fg-quiet-', quietMs);
  const threads = threadsOf(cluster);
  // CPU each node spends on the foreground load alone, per second: subtracted from the repair window below.
  const foregroundCpuPerS = cpuOf(cluster).map((c, i) => (c - cpu0[i]!) / quiet.seconds);
  return { load: quiet, threads0, threads, foregroundCpuPerS };
}

/** Writes the n keys with n3 down and waits until n1 and n2 agree. */
async function writeWithN3Down(cluster: BenchCluster, { n, settleMs }: Options): Promise<void> {
  await cluster.stop('n3');
  process.stderr.write(`converge: writing ${n.toLocaleString()} keys with n3 down…\n`);
  await cluster.writeKeys(['n1', 'n2'], n, 100);
  // Writes at `one` may miss the other live replica; with sessions only on demand, repair n1 and n2 now.
  if (settleMs > 0) await cluster.runNow('n1', 'n2');
  await waitEqual(cluster, ['n1', 'n2'], 120_000);
}

interface RepairPhase {
  /** From n3's start to its listening. */
  readonly startMs: number;
  readonly afterRestart: LoadResult | undefined;
  /** The foreground load during the repair. */
  readonly fg: LoadResult;
  readonly cpu0: readonly number[];
  readonly cpu: readonly number[];
  readonly threads0: readonly ThreadMs[];
  readonly threads: readonly ThreadMs[];
  readonly convergedSeconds: number;
}

/** Starts n3 and runs the foreground load until its digest equals the others'. */
async function measureRepair(
  cluster: BenchCluster,
  load: Load,
  { n, settleMs }: Options,
): Promise<RepairPhase> {
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
  const cpu0 = cpuOf(cluster);
  const threads0 = threadsOf(cluster);
  const stopForeground = new AbortController();
  const during = load('fg-repair-', 600_000, stopForeground.signal);
  await waitFor(async () => (await cluster.view('n3')).keys >= n, 600_000);
  stopForeground.abort();
  const fg = await during;
  await waitEqual(cluster, ['n1', 'n2', 'n3'], 120_000);
  const done = performance.now();
  const cpu = cpuOf(cluster);
  const threads = threadsOf(cluster);
  await session;
  const convergedSeconds = (done - started) / 1000;
  return { startMs: listening - restarted, afterRestart, fg, cpu0, cpu, threads0, threads, convergedSeconds };
}

/**
 * CPU per 1,000 repaired records on each node, the foreground's share (at the quiet window's rate, for the
 * time the load ran) taken out.
 */
function cpuMsPer1k(n: number, quiet: QuietPhase, repair: RepairPhase): string {
  return ids
    .map((id, i) => {
      const spent = repair.cpu[i]! - repair.cpu0[i]! - quiet.foregroundCpuPerS[i]! * repair.fg.seconds;
      const low = repair.threads[i]!.lowPriorityCpuMs - repair.threads0[i]!.lowPriorityCpuMs;
      return `${id} ${Math.round(spent / (n / 1000))} (low ${Math.round(low / (n / 1000))})`;
    })
    .join(', ');
}

/** How long each node's main thread waited for a core, per second: quiet, then during the repair. */
function mainWaitMsPerS(quiet: QuietPhase, repair: RepairPhase): string {
  return ids
    .map((id, i) => {
      const q = (quiet.threads[i]!.mainWaitMs - quiet.threads0[i]!.mainWaitMs) / quiet.load.seconds;
      const r = (repair.threads[i]!.mainWaitMs - repair.threads0[i]!.mainWaitMs) / repair.convergedSeconds;
      return `${id} ${Math.round(q)}→${Math.round(r)}`;
    })
    .join(', ');
}

interface Measured {
  readonly kind: BenchCluster['kind'];
  readonly quiet: QuietPhase;
  readonly repair: RepairPhase;
  readonly sessions: string;
  /** lmdb's raw write rate, records per second. */
  readonly raw: number;
}

/** Adds one run's rows to the report: the repair, the raw lmdb baseline and the foreground load's phases. */
function reportRun(report: Report, options: Options, runNo: number, m: Measured): RunResult {
  const { n, throttle, settings: extra, inProcess, settleMs, niceRestarted, pins, nodeArgs } = options;
  const { quiet, repair } = m;
  // Conservative: the whole time from the node listening (or the session's request, with --settle) to equal
  // digests counts, foreground writes included (with processes, the process's own start-up is reported
  // apart, as startMs).
  const repairRate = n / repair.convergedSeconds;
  const ratioToRaw = round(repairRate / m.raw);
  const p99Ratio = round(percentile(repair.fg.latenciesMs, 99) / percentile(quiet.load.latenciesMs, 99));
  report.add({
    bench: 'converge',
    impl: `converge (${m.kind})`,
    run: runNo,
    throttle,
    n,
    startMs: Math.round(repair.startMs),
    ...(settleMs > 0 ? { settleMs } : {}),
    ms: Math.round(repair.convergedSeconds * 1000),
    records: n,
    recordsPerSec: Math.round(repairRate),
    ratioToRaw,
    ...(inProcess
      ? {}
      : { cpuMsPer1k: cpuMsPer1k(n, quiet, repair), mainWaitMsPerS: mainWaitMsPerS(quiet, repair) }),
    sessions: m.sessions,
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
    recordsPerSec: Math.round(m.raw),
  });
  reportForeground(report, runNo, quiet.load, repair, p99Ratio);
  return { p99Ratio, ratioToRaw };
}

function reportForeground(
  report: Report,
  runNo: number,
  quiet: LoadResult,
  { afterRestart, fg }: RepairPhase,
  p99Ratio: number,
): void {
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
