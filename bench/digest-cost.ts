// The cost of maintaining the digest on the write path: replica applies with the digest update and with the
// update switched off, in the same run, on fresh lmdb replicas.

import { openBenchReplica, recordOf } from './reconcile-fixtures.js';
import type { Report } from './report.js';

export async function digestCost(report: Report, root: string, n: number): Promise<void> {
  const rates: Record<string, number> = {};
  for (const [impl, maintain] of [['baseline-no-digest', false], ['converge', true], ['baseline-no-digest', false], ['converge', true]] as const) {
    const { replica, storage } = await openBenchReplica(root, `cost-${impl}-${Math.random().toString(36).slice(2)}`);
    if (!maintain) replica.digest.update = () => {};
    const records = Array.from({ length: n }, (_, i) => recordOf(i, 3));
    const start = performance.now();
    for (let i = 0; i < n; i += 1000) await replica.apply(records.slice(i, i + 1000), 'client');
    await replica.flush();
    const rate = n / ((performance.now() - start) / 1000);
    rates[impl] = Math.max(rates[impl] ?? 0, rate);
    await storage.close();
  }
  const overhead = 1 - rates.converge! / rates['baseline-no-digest']!;
  report.add({ bench: 'digest-maintenance', impl: 'baseline-no-digest', n, opsPerSec: Math.round(rates['baseline-no-digest']!) });
  report.add({ bench: 'digest-maintenance', impl: 'converge', n, opsPerSec: Math.round(rates.converge!), overhead: Number(overhead.toFixed(3)) });
}
