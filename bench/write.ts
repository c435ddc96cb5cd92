// `npm run bench -- write [--json] [--runs N] [--duration D_MS] [--warm W_MS]
// [--only cluster,single,etcd,pipeline,lmdb]`:
// the write path as deployed, every node its own process. In each run, with one undici load generator and
// 100-byte values on fresh keys: a 3-node converge cluster at one, quorum and all with 32 and 128 in flight,
// and its batch API at quorum; one converge node with no peers; a 3-member etcd cluster (Raft, an fsync per
// commit) when `etcd` is installed; lmdb's raw put rate, and one replica over lmdb with and without its
// storage pipeline (write-pipeline.ts).
// Runs are repeated and the medians compared in the same invocation.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { percentile } from './load.js';
import { rawLmdbPutsPerSecond } from './raw-lmdb.js';
import { benchRoot } from './reconcile-fixtures.js';
import { Report, type Row } from './report.js';
import { pipelineRows } from './write-pipeline.js';
import { etcdAvailable, type Procs, startConvergeNodes, startEtcd } from './write-procs.js';

const valueBytes = 100;
const batchKeys = 200;
const batchInFlight = 8;
const value = Buffer.alloc(valueBytes, 0x61);
const valueBase64 = value.toString('base64');

interface Measured {
  /** CPU ms per 1,000 records: the process taking the load (n1, e1), and all of the cluster's processes. */
  cpu?: { readonly entry: number; readonly all: number };
  readonly ok: number;
  readonly records: number;
  readonly failed: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
}

/** Closed loop: `inFlight` workers each send request after request until the deadline. */
async function closedLoop(
  inFlight: number,
  durationMs: number,
  send: (i: number) => Promise<number>,
): Promise<Measured> {
  const latencies: number[] = [];
  let records = 0;
  let failed = 0;
  let seq = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const n = await send(seq++);
          if (n > 0) {
            records += n;
            latencies.push(performance.now() - t0);
          } else failed += 1;
        } catch {
          failed += 1;
        }
      }
    }),
  );
  return {
    ok: latencies.length,
    records,
    failed,
    seconds: (performance.now() - start) / 1000,
    latenciesMs: latencies,
  };
}

function pool(url: string, inFlight: number): Pool {
  return new Pool(url, {
    connections: Math.min(inFlight, 64),
    pipelining: Math.max(1, Math.ceil(inFlight / 64)),
  });
}

async function convergePut(p: Pool, key: string, consistency: string): Promise<number> {
  const res = await p.request({ method: 'PUT', path: `/kv/${key}?consistency=${consistency}`, body: value });
  await res.body.dump();
  return res.statusCode === 200 ? 1 : 0;
}

async function convergeBatch(p: Pool, prefix: string, consistency: string): Promise<number> {
  const lines: string[] = [];
  for (let k = 0; k < batchKeys; k++) lines.push(`{"key":"${prefix}-${k}","valueBase64":"${valueBase64}"}`);
  const res = await p.request({
    method: 'POST',
    path: `/kv?consistency=${consistency}`,
    body: lines.join('\n'),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) return 0;
  return (JSON.parse(text) as { succeeded: number }).succeeded;
}

async function etcdPut(p: Pool, key: string): Promise<number> {
  const body = JSON.stringify({ key: Buffer.from(key).toString('base64'), value: valueBase64 });
  const res = await p.request({ method: 'POST', path: '/v3/kv/put', body });
  await res.body.dump();
  return res.statusCode === 200 ? 1 : 0;
}

function row(
  impl: string,
  mode: string,
  consistency: string,
  inFlight: number,
  m: Measured,
  run: number,
): Row {
  const perSec = Math.round(m.records / m.seconds);
  return {
    bench: 'write',
    impl,
    mode,
    consistency,
    inFlight,
    run,
    ...(mode === 'batch'
      ? { recordsPerSec: perSec, opsPerSec: Math.round(m.ok / m.seconds) }
      : { opsPerSec: perSec }),
    p50Ms: Number(percentile(m.latenciesMs, 50).toFixed(2)),
    p99Ms: Number(percentile(m.latenciesMs, 99).toFixed(2)),
    failed: m.failed,
    ...(m.cpu === undefined
      ? {}
      : { entryCpuMsPer1k: Number(m.cpu.entry.toFixed(1)), clusterCpuMsPer1k: Number(m.cpu.all.toFixed(1)) }),
  };
}

/** Runs a measured phase and charges the cluster's CPU to it (robust to a shared machine, unlike rates). */
async function measured(procs: Procs, phase: () => Promise<Measured>): Promise<Measured> {
  const before = procs.cpuMs();
  const m = await phase();
  const after = procs.cpuMs();
  const per1k = (ms: number): number => (ms / Math.max(1, m.records)) * 1000;
  const deltas = after.map((a, i) => a - (before[i] ?? Number.NaN));
  m.cpu = { entry: per1k(deltas[0] ?? Number.NaN), all: per1k(deltas.reduce((x, y) => x + y, 0)) };
  return m;
}

/**
 * Load before the first measured phase, so that every process has compiled its hot paths: a node's paths
 * that run once per message (a replica sees a message per ~20 writes) take seconds of load to leave V8's
 * baseline tiers. Measured on a 3-node cluster at quorum, 32 in flight (2026-12-07, loaded machine): the
 * 5 s after 1.5 s of warm-up cost 400–520 ms of cluster CPU per 1,000 writes, after 12 s 335 (the converge
 * bench found latency settling over ~10 s the same way). etcd gets the same warm-up. `--warm MS`.
 */
const warmMsDefault = 10_000;
let warmMs = warmMsDefault;

async function warm(send: (i: number) => Promise<number>): Promise<void> {
  await closedLoop(32, warmMs, send);
}

async function withProcs<T>(start: () => Promise<Procs>, fn: (procs: Procs) => Promise<T>): Promise<T> {
  const procs = await start();
  try {
    return await fn(procs);
  } finally {
    await procs.stop();
  }
}

/** `--set NAME=VALUE` (repeatable): a setting for every converge node, as in its config file. */
function nodeSettings(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const [name, ...rest] = (args[i + 1] ?? '').split('=');
    if (name) out[name] = rest.join('=');
  });
  return out;
}

let settings: Record<string, string> = {};

async function convergeCluster(root: string, port: number, durationMs: number, run: number): Promise<Row[]> {
  const rows: Row[] = [];
  await withProcs(
    () => startConvergeNodes(join(root, `c3-${run}`), port, ['n1', 'n2', 'n3'], settings),
    async (procs) => {
      const url = procs.urls.get('n1')!;
      const warmPool = pool(url, 32);
      await warm((i) => convergePut(warmPool, `warm-${run}-${i}`, 'quorum'));
      await warmPool.close();
      for (const consistency of ['one', 'quorum', 'all']) {
        for (const inFlight of [32, 128]) {
          log(`run ${run}: converge 3 nodes, ${consistency}, ${inFlight} in flight`);
          const p = pool(url, inFlight);
          const m = await measured(procs, () =>
            closedLoop(inFlight, durationMs, (i) =>
              convergePut(p, `r${run}-${consistency}-${inFlight}-${i}`, consistency),
            ),
          );
          await p.close();
          rows.push(row('converge', 'single', consistency, inFlight, m, run));
        }
      }
      log(`run ${run}: converge 3 nodes, batch API at quorum`);
      const p = pool(url, batchInFlight);
      const m = await measured(procs, () =>
        closedLoop(batchInFlight, durationMs, (i) => convergeBatch(p, `r${run}-batch-${i}`, 'quorum')),
      );
      await p.close();
      rows.push(row('converge', 'batch', 'quorum', batchInFlight, m, run));
    },
  );
  return rows;
}

async function singleNode(root: string, port: number, durationMs: number, run: number): Promise<Row[]> {
  return withProcs(
    () => startConvergeNodes(join(root, `c1-${run}`), port, ['solo'], settings),
    async (procs) => {
      const url = procs.urls.get('solo')!;
      const rows: Row[] = [];
      const warmPool = pool(url, 32);
      await warm((i) => convergePut(warmPool, `warm-${run}-${i}`, 'one'));
      await warmPool.close();
      for (const inFlight of [32, 128]) {
        log(`run ${run}: one converge node, no peers, ${inFlight} in flight`);
        const p = pool(url, inFlight);
        const m = await measured(procs, () =>
          closedLoop(inFlight, durationMs, (i) => convergePut(p, `r${run}-solo-${inFlight}-${i}`, 'one')),
        );
        await p.close();
        rows.push(row('baseline-single-node', 'single', 'one', inFlight, m, run));
      }
      return rows;
    },
  );
}

async function etcdCluster(root: string, port: number, durationMs: number, run: number): Promise<Row[]> {
  return withProcs(
    () => startEtcd(join(root, `etcd-${run}`), port),
    async (procs) => {
      const url = procs.urls.get('e1')!;
      const rows: Row[] = [];
      const warmPool = pool(url, 32);
      await warm((i) => etcdPut(warmPool, `warm-${run}-${i}`));
      await warmPool.close();
      for (const inFlight of [32, 128]) {
        log(`run ${run}: etcd 3 members, ${inFlight} in flight`);
        const p = pool(url, inFlight);
        const m = await measured(procs, () =>
          closedLoop(inFlight, durationMs, (i) => etcdPut(p, `r${run}-etcd-${inFlight}-${i}`)),
        );
        await p.close();
        rows.push(row('baseline-etcd', 'single', 'raft', inFlight, m, run));
      }
      return rows;
    },
  );
}

function log(line: string): void {
  process.stderr.write(`write: ${line}\n`);
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i < 0 ? undefined : Number(args[i + 1]);
  return v === undefined || !Number.isFinite(v) || v <= 0 ? fallback : v;
}

export async function run(args: string[]): Promise<void> {
  const report = new Report(args.includes('--json'));
  const runs = option(args, '--runs', 3);
  settings = nodeSettings(args);
  const only = new Set(args.flatMap((a, i) => (a === '--only' ? (args[i + 1] ?? '').split(',') : [])));
  const wants = (part: string): boolean => only.size === 0 || only.has(part);
  const durationMs = option(args, '--duration', 5000);
  warmMs = option(args, '--warm', warmMsDefault);
  const root = benchRoot();
  const port = 23_000 + Math.floor(Math.random() * 40) * 20;
  const withEtcd = etcdAvailable();
  if (!withEtcd)
    log('etcd is not installed: the baseline-etcd rows are skipped (apt-get install -y etcd-server)');
  const all: Row[] = [];
  try {
    for (let r = 1; r <= runs; r++) {
      if (wants('cluster')) all.push(...(await convergeCluster(root, port, durationMs, r)));
      if (wants('single')) all.push(...(await singleNode(root, port + 10, durationMs, r)));
      if (withEtcd && wants('etcd')) all.push(...(await etcdCluster(root, port + 12, durationMs, r)));
      if (wants('pipeline')) {
        log(`run ${r}: one replica over lmdb, storage writes in flight 1 against the default`);
        all.push(...(await pipelineRows(root, Math.min(durationMs, 3000), r)));
      }
      if (!wants('lmdb')) continue;
      log(`run ${r}: raw lmdb`);
      const raw = await rawLmdbPutsPerSecond(root, 'group', 200_000, valueBytes, 32);
      all.push({
        bench: 'write',
        impl: 'baseline-lmdb-raw',
        mode: 'single',
        consistency: '-',
        inFlight: 32,
        run: r,
        recordsPerSec: Math.round(raw),
        opsPerSec: Math.round(raw),
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  for (const r of all) report.add(r);
  const medians = medianRows(all);
  for (const r of medians) report.add(r);
  report.print(['impl', 'mode', 'consistency', 'inFlight', 'run', ...figureColumns]);
  for (const line of targets(medians)) process.stderr.write(`${line}\n`);
}

/** The measured figures of a row: printed, and those a median is taken of. */
const figureColumns = [
  'opsPerSec',
  'recordsPerSec',
  'p50Ms',
  'p99Ms',
  'failed',
  'entryCpuMsPer1k',
  'clusterCpuMsPer1k',
] as const;

function medianRows(rows: Row[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.impl}|${r.mode}|${r.consistency}|${r.inFlight}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const med = (rs: Row[], f: string): number | undefined => {
    const vs = rs.map((r) => r[f]).filter((v): v is number => typeof v === 'number');
    return vs.length === 0 ? undefined : percentile(vs, 50);
  };
  return [...groups.values()].map((rs) => {
    const first = rs[0]!;
    const out: Row = {
      bench: 'write',
      impl: first.impl!,
      mode: first.mode!,
      consistency: first.consistency!,
      inFlight: first.inFlight!,
      run: `median of ${rs.length}`,
    };
    for (const f of figureColumns) {
      const v = med(rs, f);
      if (v !== undefined) out[f] = v;
    }
    return out;
  });
}

function targets(medians: Row[]): string[] {
  const find = (impl: string, mode: string, consistency: string, inFlight: number): Row | undefined =>
    medians.find(
      (r) => r.impl === impl && r.mode === mode && r.consistency === consistency && r.inFlight === inFlight,
    );
  const q32 = find('converge', 'single', 'quorum', 32);
  const etcd32 = find('baseline-etcd', 'single', 'raft', 32);
  const solo32 = find('baseline-single-node', 'single', 'one', 32);
  const batch = find('converge', 'batch', 'quorum', batchInFlight);
  const raw = medians.find((r) => r.impl === 'baseline-lmdb-raw');
  const ratio = (a: Row | undefined, b: Row | undefined, f: string, g = f): string =>
    a === undefined || b === undefined ? 'n/a' : `${(Number(a[f]) / Number(b[g])).toFixed(2)}x`;
  return [
    `targets (medians): quorum@32 / etcd@32 writes/s = ${ratio(q32, etcd32, 'opsPerSec')} (target >= 2x); ` +
      `p99 quorum@32 ${q32?.p99Ms ?? 'n/a'} ms vs etcd@32 ${etcd32?.p99Ms ?? 'n/a'} ms (target <=)`,
    `targets (medians): quorum@32 / single node@32 = ${ratio(q32, solo32, 'opsPerSec')} (target >= 0.7x); ` +
      `batch@quorum / raw lmdb records/s = ${ratio(batch, raw, 'recordsPerSec')} (target >= 0.5x)`,
  ];
}
