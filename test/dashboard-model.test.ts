// The dashboard's pure derivations: pair comparison of digest levels, the divergence estimate and the
// convergence headline, and grouping nodes by equal digest roots.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterNodeView, ClusterView, DigestLevelView } from '../src/server/dashboard/index.js';
import { HistoryStore } from '../web/history-store.js';
import { comparePair, comparePairs, convergence, rootGroups } from '../web/model.js';

function level(id: string, hashes: string[], counts: number[]): DigestLevelView {
  return {
    id,
    level: 2,
    leafBits: 12,
    ready: true,
    root: hashes.join('').slice(0, 16),
    hashes: hashes.join(''),
    counts,
  };
}

const h0 = '0'.repeat(16);
const h1 = '1'.repeat(16);
const h2 = '2'.repeat(16);

test('comparePair finds the differing prefixes and estimates keys from count gaps', () => {
  const a = level('a', [h0, h1, h1, h0], [3, 5, 2, 0]);
  const b = level('b', [h0, h2, h1, h2], [3, 5, 2, 4]);
  const p = comparePair(a, b);
  assert.equal(p.comparable, true);
  assert.deepEqual(p.differing, [1, 3]);
  assert.equal(p.keysByPrefix.get(1), 1, 'same count, different hash: one changed key');
  assert.equal(p.keysByPrefix.get(3), 4);
  assert.equal(p.keysEstimate, 5);
});

test('identical levels compare equal with zero keys', () => {
  const a = level('a', [h0, h1, h2, h0], [1, 2, 3, 0]);
  const p = comparePair(a, { ...a, id: 'b' });
  assert.equal(p.rootsEqual, true);
  assert.equal(p.keysEstimate, 0);
  assert.deepEqual(p.differing, []);
});

function node(id: string, root: string | null): ClusterNodeView {
  const status =
    root === null
      ? null
      : ({
          id,
          keys: 1,
          digest: { root, leafBits: 12, ready: true },
          peers: [],
        } as unknown as ClusterNodeView['status']);
  return {
    id,
    url: null,
    self: id === 'a',
    reachable: root !== null,
    error: null,
    latencyMs: 1,
    status,
    antiEntropy: null,
  };
}

function cluster(nodes: ClusterNodeView[]): ClusterView {
  return { self: 'a', nowMs: 0, demo: null, nodes };
}

test('convergence: converged, diverging with the largest pair, or unknown when a node is unreachable', () => {
  const x = level('a', [h0, h0, h0, h0], [0, 0, 0, 0]);
  const y = level('b', [h1, h0, h0, h0], [2, 0, 0, 0]);
  assert.equal(
    convergence(
      cluster([node('a', 'r'), node('b', 'r')]),
      comparePairs({
        level: 2,
        nodes: [
          { id: 'a', digest: x, error: null },
          { id: 'b', digest: { ...x, id: 'b' }, error: null },
        ],
      }),
    ).kind,
    'converged',
  );
  const diverging = convergence(cluster([node('a', 'r'), node('b', 's')]), [comparePair(x, y)]);
  assert.deepEqual(diverging, { kind: 'diverging', keysEstimate: 2, pairs: 1, unreachable: [] });
  assert.deepEqual(convergence(cluster([node('a', 'r'), node('c', null)]), []), {
    kind: 'unknown',
    unreachable: ['c'],
  });
});

test('rootGroups puts the majority root in group 0', () => {
  const groups = rootGroups(cluster([node('a', 'x'), node('b', 'y'), node('c', 'y')]));
  assert.equal(groups.get('b'), 0);
  assert.equal(groups.get('c'), 0);
  assert.equal(groups.get('a'), 1);
});

test('HistoryStore keeps a session once, from its initiator, naming both ends', () => {
  const entry = {
    id: 's1',
    range: 'all',
    initiator: 'b',
    startedAtMs: 1,
    endedAtMs: 2,
    durationMs: 1,
    result: 'repaired' as const,
    error: null,
    resumed: false,
    keysCompared: 3,
    keysDivergent: 2,
    bytesSent: 0,
    bytesReceived: 0,
    roundTrips: 1,
  };
  // a is the responder: its copy names b as the peer and mirrors pulled and pushed.
  const onA = { ...entry, peer: 'b', keysPulled: 0, keysPushed: 2 };
  const onB = { ...entry, peer: 'a', keysPulled: 2, keysPushed: 0 };
  const withHistory = (id: string, history: unknown[]) =>
    ({ ...node(id, 'r'), antiEntropy: { history, peers: [] } }) as unknown as ClusterNodeView;
  for (const order of [
    ['a', 'b'],
    ['b', 'a'],
  ]) {
    const store = new HistoryStore();
    const nodes = order.map((id) => withHistory(id, id === 'a' ? [onA] : [onB]));
    store.addCluster(cluster(nodes));
    store.addCluster(cluster(nodes));
    const list = store.sessionList();
    assert.equal(list.length, 1);
    assert.equal(list[0]!.initiator, 'b');
    assert.equal(list[0]!.responder, 'a');
    assert.equal(list[0]!.keysPulled, 2, 'the initiator’s copy wins');
  }
});
