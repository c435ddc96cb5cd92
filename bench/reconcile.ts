// `npm run bench -- reconcile [--json] [--quick] [--reps N]`: discovery cost of converge's reconciliation
// against two baselines measured in the same run, at n records with d of them differing:
//   baseline-full-list: one side sends every (key, version); the other answers with the differing keys;
//   baseline-merkle-15: each side builds a depth-15 Merkle tree by a full scan, the trees are exchanged, and
//                       every record in a differing leaf is streamed (Cassandra's validation +
// overstreaming). The converge rows are timed N times each (default 5), interleaved, and give the median.
// Plus a session over the partitions two members of a 5-node RF 3 ring share (reconcile-scoped.ts), the
// bulk path (an empty initiator's whole repair traffic, `converge-bulk`) beside the full list, and
// the digest maintenance cost: replica puts with and without the digest update.

import { rmSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { respond } from '../src/core/reconcile-driver.js';
import type { Difference } from '../src/core/reconcile-types.js';
import { Reconciler, reconcilerOptionsDefault } from '../src/core/reconciler.js';
import { encodeVersion } from '../src/core/record.js';
import { planKey } from '../src/core/repair-plan.js';
import { reconcileSymbols } from '../src/core/symbol-driver.js';
import { SymbolReconciler, symbolPathOptionsDefault } from '../src/core/symbol-reconciler.js';
import type { LocalReplica } from '../src/replica/replica.js';
import { digestCost } from './digest-cost.js';
import { type BulkResult, bulkPull, fullListThenRecords } from './reconcile-bulk.js';
import { benchRoot, fill, fullList, merkleLeaves, openBenchReplica, recordOf } from './reconcile-fixtures.js';
import { measureScoped } from './reconcile-scoped.js';
import { progress, Report, withPeakRss } from './report.js';

interface Case {
  n: number;
  d: number;
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const n = args.includes('--quick') ? 100_000 : 1_000_000;
  const ds = [0, 10, 1000, 10_000, 100_000].filter((d) => d < n);
  const at = args.indexOf('--reps');
  const reps = at >= 0 ? Number(args[at + 1]) : repsDefault;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps takes a whole number of runs, at least 1');
  const report = new Report(json);
  const root = benchRoot();
  try {
    const a = await openBenchReplica(root, 'a');
    const b = await openBenchReplica(root, 'b');
    await fill([a.replica, b.replica], n, progress(`loading 2 × ${n.toLocaleString()} records`));
    let offset = 0;
    for (const d of ds) {
      await diverge(b.replica, offset, d);
      offset += d;
      await measureCase(report, { n, d }, a.replica, b.replica, reps);
      const timing = { median, range, wanMs, collect };
      await measureScoped(
        report,
        { n, d },
        { a: a.replica, b: b.replica },
        d > repsLargeD ? 1 : reps,
        timing,
      );
      await repairAll(a.replica, b.replica);
    }
    const empty = await openBenchReplica(root, 'empty');
    await measureCase(report, { n, d: n }, empty.replica, a.replica, reps);
    await measureBulk(report, n, empty.replica, a.replica, Math.min(reps, 3));
    for (const r of [a, b, empty]) await r.storage.close();
    await digestCost(report, root, Math.min(n, 200_000));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  report.print([
    'bench',
    'impl',
    'n',
    'd',
    'partitions',
    'path',
    'bytes',
    'roundTrips',
    'runs',
    'ms',
    'msRange',
    'wanMs',
    'records',
    'peakRssBytes',
    'opsPerSec',
    'digestUs',
    'symbolsUs',
    'partitionSymbolsUs',
    'overhead',
  ]);
}

/** Gives d keys a newer version on b. */
export async function diverge(b: LocalReplica, offset: number, d: number): Promise<void> {
  for (let i = 0; i < d; i += 10_000) {
    const records = Array.from({ length: Math.min(10_000, d - i) }, (_, j) => recordOf(offset + i + j, 1));
    await b.apply(records, 'client');
  }
  await b.flush();
}

/** Round trips at 50 ms each plus the bytes at 100 Mbit/s: what the discovery would take over a WAN link. */
const wanMs = (roundTrips: number, bytes: number): number =>
  Math.round(roundTrips * 50 + (bytes * 8) / 100_000);

/** Timed runs of each converge row per case (alternating which goes first); the rows give the median. */
const repsDefault = 5;
/** Above this difference one run each: a run takes seconds, and the load's noise is small beside it. */
const repsLargeD = 10_000;

/**
 * A full collection before each timed run: the garbage of the run before (the baselines leave hundreds of
 * megabytes) is otherwise collected during, and charged to, whichever protocol runs next.
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** The symbol path and the descent, `runs` times each, alternating which goes first. */
async function timeConverge(a: LocalReplica, b: LocalReplica, runs: number) {
  const symMs: number[] = [];
  const treeMs: number[] = [];
  let sym: Awaited<ReturnType<typeof discoverSymbols>> | undefined;
  let tree: Awaited<ReturnType<typeof discover>> | undefined;
  let symRss = 0;
  let treeRss = 0;
  for (let i = 0; i < runs; i++) {
    for (const which of i % 2 === 0 ? ['symbols', 'tree'] : ['tree', 'symbols']) {
      collect();
      if (which === 'symbols') {
        const r = await withPeakRss(() => discoverSymbols(a, b));
        sym = r.result;
        symMs.push(r.result.ms);
        symRss = Math.max(symRss, r.peakRssBytes);
      } else {
        const r = await withPeakRss(() => discover(a, b));
        tree = r.result;
        treeMs.push(r.result.ms);
        treeRss = Math.max(treeRss, r.peakRssBytes);
      }
    }
  }
  return { sym: sym!, tree: tree!, symMs, treeMs, symRss, treeRss };
}

async function measureCase(
  report: Report,
  c: Case,
  a: LocalReplica,
  b: LocalReplica,
  reps: number,
): Promise<void> {
  const runs = c.d > repsLargeD ? 1 : reps;
  const { sym, tree, symMs, treeMs, symRss, treeRss } = await timeConverge(a, b, runs);
  const s = sym;
  const t = tree;
  const common = { bench: 'reconcile', n: c.n, d: c.d, runs };
  report.add({
    ...common,
    impl: 'converge',
    path: s.path,
    bytes: s.bytes,
    roundTrips: s.roundTrips,
    ms: median(symMs),
    msRange: range(symMs),
    wanMs: wanMs(s.roundTrips, s.bytes),
    records: s.records,
    peakRssBytes: symRss,
  });
  report.add({
    ...common,
    impl: 'converge-tree',
    path: 'tree',
    bytes: t.bytes,
    roundTrips: t.roundTrips,
    ms: median(treeMs),
    msRange: range(treeMs),
    wanMs: wanMs(t.roundTrips, t.bytes),
    records: t.records,
    peakRssBytes: treeRss,
  });
  const list = await withPeakRss(async () => baselineList(a, b));
  report.add({
    bench: 'reconcile',
    impl: 'baseline-full-list',
    n: c.n,
    d: c.d,
    ...list.result,
    roundTrips: 1,
    wanMs: wanMs(1, list.result.bytes),
    peakRssBytes: list.peakRssBytes,
  });
  const merkle = await withPeakRss(async () => baselineMerkle(a, b));
  report.add({
    bench: 'reconcile',
    impl: 'baseline-merkle-15',
    n: c.n,
    d: c.d,
    ...merkle.result,
    roundTrips: 1,
    wanMs: wanMs(1, merkle.result.bytes),
    peakRssBytes: merkle.peakRssBytes,
  });
}

export async function discover(
  a: LocalReplica,
  b: LocalReplica,
): Promise<{ bytes: number; roundTrips: number; ms: number; records: number }> {
  const start = performance.now();
  const rec = new Reconciler(a, { ...reconcilerOptionsDefault, salt: 0x5eed });
  let records = 0;
  const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    for (const diff of rec.onResponse(await respond(b, noApply, req)))
      records += diff.kind === 'key' ? 1 : diff.records;
  }
  return {
    bytes: rec.stats.bytesSent + rec.stats.bytesReceived,
    roundTrips: rec.stats.roundTrips,
    ms: performance.now() - start,
    records,
  };
}

/**
 * What a session discovers: the symbol path, then (if it fell back) the tree descent, as a session runs them.
 * Bytes and round trips are both parts together; records counts each differing key once.
 */
export async function discoverSymbols(
  a: LocalReplica,
  b: LocalReplica,
): Promise<{ path: string; bytes: number; roundTrips: number; ms: number; records: number }> {
  const start = performance.now();
  const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });
  const exchange = (req: Uint8Array): Promise<Uint8Array> => respond(b, noApply, req);
  const path = new SymbolReconciler(a, { ...symbolPathOptionsDefault, salt: 0x5eed });
  if (a.digest.count() > 0) await reconcileSymbols(path, exchange);
  let bytes = path.stats.bytesSent + path.stats.bytesReceived;
  let roundTrips = path.stats.roundTrips;
  let records = path.differences.length;
  if (path.outcome?.kind === 'decoded')
    return { path: 'symbols', bytes, roundTrips, ms: performance.now() - start, records };
  const tree = await discover(a, b);
  bytes += tree.bytes;
  roundTrips += tree.roundTrips;
  records = tree.records;
  return {
    path: roundTrips > tree.roundTrips ? 'symbols-then-tree' : 'tree',
    bytes,
    roundTrips,
    ms: performance.now() - start,
    records,
  };
}

/** Makes a equal to b again by the same reconciliation, so the next case starts from equal replicas. */
export async function repairAll(a: LocalReplica, b: LocalReplica): Promise<void> {
  const rec = new Reconciler(a, { ...reconcilerOptionsDefault, salt: 7 });
  const diffs: Difference[] = [];
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    diffs.push(...rec.onResponse(await respond(b, async (rs) => b.apply(rs, 'anti-entropy'), req)));
  }
  for (const d of diffs) {
    if (d.kind !== 'key') continue;
    const p = planKey(d);
    if (p.direction === 'pull') await a.apply([b.get(d.key)!], 'anti-entropy');
    else await b.apply([a.get(d.key)!], 'anti-entropy');
  }
  await Promise.all([a.flush(), b.flush()]);
  if (a.digest.rootHex() !== b.digest.rootHex()) throw new Error('bench replicas did not converge');
}

/**
 * The empty initiator's whole repair traffic (discovery, then every record by range fetches, decoded) beside
 * the full list of (key, version) and its answer, and that list followed by fetching the records it named,
 * alternating, medians of `runs` each.
 */
async function measureBulk(report: Report, n: number, empty: LocalReplica, full: LocalReplica, runs: number) {
  const bulkMs: number[] = [];
  const listMs: number[] = [];
  const thenMs: number[] = [];
  let bulk: BulkResult | undefined;
  let list: ReturnType<typeof baselineList> | undefined;
  let then: BulkResult | undefined;
  for (let i = 0; i < runs; i++) {
    collect();
    bulk = await bulkPull(empty, full);
    bulkMs.push(bulk.ms);
    collect();
    list = baselineList(empty, full);
    listMs.push(list.ms);
    collect();
    then = await fullListThenRecords(empty, full);
    thenMs.push(then.ms);
  }
  const common = { bench: 'reconcile', n, d: n, runs, path: 'bulk' };
  const b = bulk!;
  report.add({
    ...common,
    impl: 'converge-bulk',
    bytes: b.bytes,
    roundTrips: b.roundTrips,
    ms: median(bulkMs),
    msRange: range(bulkMs),
    wanMs: wanMs(b.roundTrips, b.bytes),
    records: b.records,
  });
  report.add({
    ...common,
    impl: 'baseline-full-list',
    bytes: list!.bytes,
    roundTrips: 1,
    ms: median(listMs),
    msRange: range(listMs),
    wanMs: wanMs(1, list!.bytes),
    records: list!.records,
  });
  report.add({
    ...common,
    impl: 'baseline-full-list-then-records',
    bytes: then!.bytes,
    roundTrips: then!.roundTrips,
    ms: median(thenMs),
    msRange: range(thenMs),
    wanMs: wanMs(then!.roundTrips, then!.bytes),
    records: then!.records,
  });
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const range = (xs: readonly number[]): string =>
  `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;

function baselineList(a: LocalReplica, b: LocalReplica): { bytes: number; ms: number; records: number } {
  const start = performance.now();
  const list = fullList(a);
  // The receiver walks the list against its own records and answers with the keys that differ.
  const view = new DataView(list.buffer);
  const seen = new Set<string>();
  let answer = 0;
  let differing = 0;
  for (let at = 0; at < list.length; ) {
    const len = view.getUint16(at);
    const key = list.subarray(at + 2, at + 2 + len);
    const vlen = 9 + list[at + 2 + len + 8]!;
    const version = list.subarray(at + 2 + len, at + 2 + len + vlen);
    at += 2 + len + vlen;
    const mine = b.get(key);
    seen.add(Buffer.from(key).toString('latin1'));
    if (mine === undefined || Buffer.compare(encodeVersion(mine.version), version) !== 0) {
      differing += 1;
      answer += 2 + len;
    }
  }
  for (const { record } of b.scanTokens(new Uint8Array(8), undefined)) {
    if (!seen.has(Buffer.from(record.key).toString('latin1'))) {
      differing += 1;
      answer += 2 + record.key.length + 16;
    }
  }
  return { bytes: list.length + answer, ms: performance.now() - start, records: differing };
}

function baselineMerkle(a: LocalReplica, b: LocalReplica): { bytes: number; ms: number; records: number } {
  const depth = 15;
  const start = performance.now();
  const ta = merkleLeaves(a, depth);
  const tb = merkleLeaves(b, depth);
  let streamed = 0;
  for (let leaf = 0; leaf < 2 ** depth; leaf++) {
    const same =
      ta.words[2 * leaf] === tb.words[2 * leaf] &&
      ta.words[2 * leaf + 1] === tb.words[2 * leaf + 1] &&
      ta.counts[leaf] === tb.counts[leaf];
    // A differing leaf's range is streamed whole, from both sides.
    if (!same) streamed += ta.counts[leaf]! + tb.counts[leaf]!;
  }
  // Both trees travel: 2^(depth+1)-1 nodes of 32-byte hashes each way, as a validation compaction ships them.
  const bytes = 2 * (2 ** (depth + 1) - 1) * 32;
  return { bytes, ms: performance.now() - start, records: streamed };
}
