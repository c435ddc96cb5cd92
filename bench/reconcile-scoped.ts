// Rows of the reconcile benchmark for a session over some partitions only (a ring with RF < N): the symbol
// path over the partitions two members share (the sum of their per-partition symbols), then the scoped tree
// descent if it fell back (`converge-scoped`), beside the scoped descent alone (`converge-tree-scoped`).
// The d differing keys are spread over every partition: a scoped session sees the share of them that falls
// in its partitions, and counts exactly those.

import { respond } from '../src/core/reconcile-driver.js';
import type { ReconcileScope } from '../src/core/reconciler.js';
import { Reconciler, reconcilerOptionsDefault } from '../src/core/reconciler.js';
import { reconcileSymbols } from '../src/core/symbol-driver.js';
import { SymbolReconciler, symbolPathOptionsDefault } from '../src/core/symbol-reconciler.js';
import { Topology } from '../src/core/topology.js';
import type { LocalReplica } from '../src/replica/replica.js';
import { leafBits, partitionBits } from './reconcile-fixtures.js';
import type { Report } from './report.js';

/** The ring the scoped rows assume: 5 members, RF 3, the default 256 partitions; the session n1 ↔ n2. */
export function benchScope(): ReconcileScope {
  const ring = Topology.create({
    members: ['n1', 'n2', 'n3', 'n4', 'n5'],
    partitions: 2 ** partitionBits,
    replicationFactor: 3,
    leafBits,
  });
  return { level: ring.partitionBits, indexes: ring.sharedPartitions('n1', 'n2') };
}

const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });

interface Discovered {
  path: string;
  bytes: number;
  roundTrips: number;
  ms: number;
  records: number;
}

/** The scoped tree descent alone. */
export async function discoverScopedTree(
  a: LocalReplica,
  b: LocalReplica,
  scope: ReconcileScope,
): Promise<Discovered> {
  const start = performance.now();
  const rec = new Reconciler(a, { ...reconcilerOptionsDefault, salt: 0x5eed, scope });
  let records = 0;
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    for (const diff of rec.onResponse(await respond(b, noApply, req)))
      records += diff.kind === 'key' ? 1 : diff.records;
  }
  const bytes = rec.stats.bytesSent + rec.stats.bytesReceived;
  return { path: 'tree', bytes, roundTrips: rec.stats.roundTrips, ms: performance.now() - start, records };
}

/** A scoped session's discovery: the symbol path over the scope, then the scoped descent on a fallback. */
export async function discoverScoped(
  a: LocalReplica,
  b: LocalReplica,
  scope: ReconcileScope,
): Promise<Discovered> {
  const start = performance.now();
  const exchange = (req: Uint8Array): Promise<Uint8Array> => respond(b, noApply, req);
  const symbolScope = { partitionBits: scope.level, partitions: scope.indexes };
  const path = new SymbolReconciler(a, { ...symbolPathOptionsDefault, salt: 0x5eed, scope: symbolScope });
  await reconcileSymbols(path, exchange);
  const bytes = path.stats.bytesSent + path.stats.bytesReceived;
  const roundTrips = path.stats.roundTrips;
  if (path.outcome?.kind === 'decoded') {
    const ms = performance.now() - start;
    return { path: 'symbols', bytes, roundTrips, ms, records: path.differences.length };
  }
  const tree = await discoverScopedTree(a, b, scope);
  return {
    path: 'symbols-then-tree',
    bytes: bytes + tree.bytes,
    roundTrips: roundTrips + tree.roundTrips,
    ms: performance.now() - start,
    records: tree.records,
  };
}

export interface Timing {
  median(xs: readonly number[]): number;
  range(xs: readonly number[]): string;
  wanMs(roundTrips: number, bytes: number): number;
  /** A full collection before a timed run. */
  collect(): void;
}

/** Both scoped rows for one case, `runs` interleaved runs each, medians. */
export async function measureScoped(
  report: Report,
  c: { n: number; d: number },
  pair: { a: LocalReplica; b: LocalReplica },
  runs: number,
  timing: Timing,
): Promise<void> {
  const scope = benchScope();
  const times: Record<'symbols' | 'tree', number[]> = { symbols: [], tree: [] };
  const last: Partial<Record<'symbols' | 'tree', Discovered>> = {};
  for (let i = 0; i < runs; i++) {
    for (const which of i % 2 === 0 ? (['symbols', 'tree'] as const) : (['tree', 'symbols'] as const)) {
      timing.collect();
      const r =
        which === 'symbols'
          ? await discoverScoped(pair.a, pair.b, scope)
          : await discoverScopedTree(pair.a, pair.b, scope);
      times[which].push(r.ms);
      last[which] = r;
    }
  }
  for (const which of ['symbols', 'tree'] as const) {
    const r = last[which]!;
    report.add({
      bench: 'reconcile',
      impl: which === 'symbols' ? 'converge-scoped' : 'converge-tree-scoped',
      n: c.n,
      d: c.d,
      partitions: scope.indexes.length,
      runs,
      path: r.path,
      bytes: r.bytes,
      roundTrips: r.roundTrips,
      ms: timing.median(times[which]),
      msRange: timing.range(times[which]),
      wanMs: timing.wanMs(r.roundTrips, r.bytes),
      records: r.records,
    });
  }
}
