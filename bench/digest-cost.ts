// The cost of maintaining the digest and the coded symbols (whole-keyspace and per-partition) on the write
// path: replica applies with every update, with the digest alone, and with neither, in the same run, on fresh
// lmdb replicas.

import { DigestTree } from '../src/core/digest.js';
import { tokenOf } from '../src/core/hash.js';
import {
  PartitionSymbols,
  partitionSymbolsBudgetDefault,
  updateSymbols,
} from '../src/core/partition-symbols.js';
import { CodedSymbols } from '../src/core/riblt.js';
import { leafBits, openBenchReplica, partitionBits, recordOf } from './reconcile-fixtures.js';
import type { Report } from './report.js';

export async function digestCost(report: Report, root: string, n: number): Promise<void> {
  const rates: Record<string, number> = {};
  const kinds = [
    ['baseline-no-digest', 0],
    ['converge-digest-only', 1],
    ['converge', 2],
  ] as const;
  // The share of a write the updates take, timed alone right after each write-rate run of `converge` (the
  // rates move by ±15% from run to run on a shared machine: a share from one alternation is less so).
  const shares: Array<ReturnType<typeof timeUpdates>> = [];
  for (const [impl, maintain] of [...kinds, ...kinds, ...kinds]) {
    const { replica, storage } = await openBenchReplica(
      root,
      `cost-${impl}-${Math.random().toString(36).slice(2)}`,
    );
    if (maintain === 0) replica.digest.update = () => {};
    // Both kinds of symbols are updated in one walk (updateSymbols): without them, the replica keeps none.
    if (maintain < 2) Object.assign(replica, { symbols: undefined, partitionSymbols: undefined });
    const records = Array.from({ length: n }, (_, i) => recordOf(i, 3));
    const start = performance.now();
    for (let i = 0; i < n; i += 1000) await replica.apply(records.slice(i, i + 1000), 'client');
    await replica.flush();
    const rate = n / ((performance.now() - start) / 1000);
    rates[impl] = Math.max(rates[impl] ?? 0, rate);
    await storage.close();
    if (maintain === 2) shares.push(timeUpdates(n, rate));
  }
  const base = rates['baseline-no-digest']!;
  const overhead = (impl: string): number => Number((1 - rates[impl]! / base).toFixed(3));
  report.add({ bench: 'digest-maintenance', impl: 'baseline-no-digest', n, opsPerSec: Math.round(base) });
  report.add({
    bench: 'digest-maintenance',
    impl: 'converge-digest-only',
    n,
    opsPerSec: Math.round(rates['converge-digest-only']!),
    overhead: overhead('converge-digest-only'),
  });
  // converge: the digest and the coded symbols, as a replica keeps them.
  report.add({
    bench: 'digest-maintenance',
    impl: 'converge',
    n,
    opsPerSec: Math.round(rates.converge!),
    overhead: overhead('converge'),
  });
  shares.sort((x, y) => x.share - y.share);
  const { digestUs, symbolsUs, partitionSymbolsUs, share } = shares[shares.length >> 1]!;
  report.add({
    bench: 'digest-maintenance',
    impl: 'converge-upkeep',
    n,
    digestUs: Number(digestUs.toFixed(3)),
    symbolsUs: Number(symbolsUs.toFixed(3)),
    partitionSymbolsUs: Number(partitionSymbolsUs.toFixed(3)),
    overhead: Number(share.toFixed(3)),
  });
}

/**
 * Microseconds per digest, whole-keyspace symbol and per-partition symbol update of an overwrite, and their
 * share of a write at `rate`.
 */
function timeUpdates(
  n: number,
  rate: number,
): { digestUs: number; symbolsUs: number; partitionSymbolsUs: number; share: number } {
  const records = Array.from({ length: n }, (_, i) => recordOf(i, 3));
  const tokens = records.map((r) => tokenOf(r.key));
  const digest = new DigestTree(leafBits);
  const symbols = new CodedSymbols();
  const parts = PartitionSymbols.forBudget(partitionBits, partitionSymbolsBudgetDefault)!;
  let start = performance.now();
  for (let i = 0; i < n; i++) digest.update(tokens[i]!, null, records[i]!.fp);
  const digestUs = ((performance.now() - start) * 1000) / n;
  start = performance.now();
  for (let i = 0; i < n; i++) symbols.update(tokens[i]!, null, records[i]!.fp);
  // An overwrite moves two items (old out, new in): twice an insert.
  const symbolsUs = (2 * (performance.now() - start) * 1000) / n;
  // Per-partition symbols are updated in the same walk as the whole keyspace's: their cost is the difference.
  const both = new CodedSymbols();
  start = performance.now();
  for (let i = 0; i < n; i++) updateSymbols(both, parts, tokens[i]!, null, records[i]!.fp);
  const partitionSymbolsUs = Math.max(0, (2 * (performance.now() - start) * 1000) / n - symbolsUs);
  const share = ((digestUs + symbolsUs + partitionSymbolsUs) * rate) / 1e6;
  return { digestUs, symbolsUs, partitionSymbolsUs, share };
}
