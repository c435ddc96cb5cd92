// The pure parts of the dashboard's operator view: which pairs are stale, the default staleness threshold,
// the chart's round ticks, and unknown divergence kept apart from known samples (never joined across).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { PeerAntiEntropyState } from '../src/antientropy/types.js';
import type { ClusterNodeView, ClusterView } from '../src/server/dashboard/index.js';
import { pairStaleness, staleAfterMs, stalePairs } from '../web/model.js';
import { niceTicks, segments } from '../web/panels/history.js';

function node(id: string, ages: Record<string, number | null> | null, intervalMs = 2_000): ClusterNodeView {
  const peers = Object.entries(ages ?? {}).map(
    ([peer, age]): PeerAntiEntropyState => ({
      peer,
      running: null,
      last: null,
      lastSuccessStartedAtMs: null,
      lastSuccessAgeSeconds: age,
      nextAtMs: null,
    }),
  );
  const antiEntropy =
    ages === null ? null : ({ intervalMs, peers, history: [] } as unknown as ClusterNodeView['antiEntropy']);
  return {
    id,
    url: null,
    self: false,
    reachable: true,
    error: null,
    latencyMs: 0,
    status: null,
    antiEntropy,
  };
}

function view(...nodes: ClusterNodeView[]): ClusterView {
  return { self: nodes[0]!.id, nowMs: 0, demo: null, nodes };
}

test('a pair is as fresh as its fresher side, stale past the threshold, never without a success', () => {
  const c = view(
    node('n1', { n2: 50, n3: null }),
    node('n2', { n1: 5, n3: null }),
    node('n3', { n1: null, n2: null }),
  );
  assert.deepEqual(pairStaleness(c, 'n1', 'n2', 10_000), { kind: 'fresh', ageMs: 5_000 });
  assert.deepEqual(pairStaleness(c, 'n1', 'n2', 1_000), { kind: 'stale', ageMs: 5_000 });
  assert.deepEqual(pairStaleness(c, 'n1', 'n3', 10_000), { kind: 'never' });
  assert.deepEqual(
    stalePairs(c, 10_000).map((p) => `${p.a}-${p.b}`),
    ['n1-n3', 'n2-n3'],
  );
  const silent = view(node('n1', null), node('n2', null));
  assert.deepEqual(pairStaleness(silent, 'n1', 'n2', 1_000), { kind: 'unknown' });
  assert.equal(staleAfterMs(c, null), 20_000, 'ten intervals of the slowest node');
  assert.equal(staleAfterMs(c, 3_000), 3_000, 'the operator’s choice wins');
});

test('the key axis ticks are round and evenly spaced, at most five steps, ending at the maximum', () => {
  assert.deepEqual(niceTicks(5), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(niceTicks(20), [0, 5, 10, 15, 20]);
  assert.deepEqual(niceTicks(200), [0, 50, 100, 150, 200]);
  for (const max of [5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 100_000]) {
    const t = niceTicks(max);
    assert.equal(t[t.length - 1], max);
    assert.ok(t.length >= 3 && t.length <= 6, `${max}: ${t}`);
    for (const [i, v] of t.entries()) assert.equal(v, i * t[1]!);
  }
});

test('unknown samples split the known runs and become spans; no run crosses one', () => {
  const sample = fc.record({
    atMs: fc.integer({ min: 0, max: 1_000 }),
    keysEstimate: fc.option(fc.nat(100)),
  });
  fc.assert(
    fc.property(fc.array(sample, { maxLength: 40 }), (raw) => {
      const samples = [...raw].sort((a, b) => a.atMs - b.atMs);
      const { known, unknown } = segments(samples, 0);
      assert.equal(known.flat().length, samples.filter((x) => x.keysEstimate !== null).length);
      for (const run of known) {
        const [first, last] = [run[0]!.atMs, run[run.length - 1]!.atMs];
        for (const u of unknown)
          assert.ok(!(u.fromMs > first && u.fromMs < last), 'a run spans an unknown one');
      }
      for (const u of unknown) assert.ok(u.toMs === null || u.toMs >= u.fromMs);
    }),
  );
  const { known, unknown } = segments(
    [
      { atMs: 1, keysEstimate: 0 },
      { atMs: 2, keysEstimate: 5 },
      { atMs: 3, keysEstimate: null },
      { atMs: 4, keysEstimate: null },
      { atMs: 5, keysEstimate: 9 },
    ],
    0,
  );
  assert.deepEqual(
    known.map((r) => r.map((x) => x.atMs)),
    [[1, 2], [5]],
  );
  assert.deepEqual(unknown, [{ fromMs: 3, toMs: 5 }]);
});
