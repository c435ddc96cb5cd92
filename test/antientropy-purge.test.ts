// Equal records, equal roots, also around a tombstone purge: one replica purging before the others is not
// divergence. A session adopts the larger purge bound of its two sides before comparing, and a preview
// compares under it, so neither reports a difference (nor lists a pull) that the session would not repair.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AntiEntropyProcess } from '../src/antientropy/process.js';
import { keyToBytes } from '../src/core/record.js';
import { startCluster } from './helpers.js';

// Sessions run only when the test asks, and the purge tick never fires by itself.
const manual = {
  hints: false,
  'read-repair': false,
  'ae-interval': '1h',
  'leaf-bits': '12',
  'tombstone-grace': '1ms',
} as const;

test('a tombstone purged on one replica first: sessions in the window report no divergence, the preview lists nothing, roots agree after', async () => {
  const cluster = await startCluster({ settings: manual });
  try {
    const ids = ['n1', 'n2', 'n3'];
    const ae = (id: string): AntiEntropyProcess =>
      cluster.node(id).ctx.antiEntropy as unknown as AntiEntropyProcess;
    const root = (id: string): string => cluster.node(id).ctx.replica.digest.rootHex();
    const n1 = cluster.node('n1').ctx.node;
    await n1.put('doomed', new TextEncoder().encode('alive'), 'all');
    await n1.put('kept', new TextEncoder().encode('stays'), 'all');
    await n1.del('doomed', 'all');
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Sessions between every pair until n1's watermark proves every replica holds the tombstone.
    let purged = 0;
    for (let round = 0; round < 5 && purged === 0; round++) {
      for (const id of ids) await ae(id).runNow();
      purged = await ae('n1').purgeOnce();
    }
    assert.equal(purged, 1, 'n1 purged the tombstone');
    const key = keyToBytes('doomed');
    assert.equal(cluster.node('n1').ctx.replica.get(key), undefined);
    assert.equal(cluster.node('n2').ctx.replica.get(key)?.tombstone, true, 'n2 has not purged yet');
    assert.notEqual(root('n1'), root('n2'), 'the window after a purge');

    for (const [from, to] of [
      ['n1', 'n2'],
      ['n2', 'n1'],
    ] as const) {
      const preview = await ae(from).preview(to, 100);
      assert.equal(preview.divergent, 0, `preview ${from} -> ${to}: ${JSON.stringify(preview.entries)}`);
      assert.deepEqual(preview.entries, []);
    }
    const [session] = await ae('n2').runNow('n1');
    assert.equal(session!.result, 'converged', JSON.stringify(session));
    assert.equal(session!.keysDivergent, 0);
    assert.equal(cluster.node('n2').ctx.replica.get(key), undefined, 'n2 purged to the bound it adopted');
    assert.equal(root('n1'), root('n2'));
    const [third] = await ae('n1').runNow('n3');
    assert.equal(third!.result, 'converged', JSON.stringify(third));
    assert.deepEqual(new Set(ids.map(root)).size, 1, 'equal records, equal roots');
    assert.ok(cluster.node('n3').ctx.replica.get(keyToBytes('kept')) !== undefined);
  } finally {
    await cluster.close();
  }
});
