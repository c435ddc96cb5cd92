// The dashboard's derivations with a partitioned ring (RF < N): a pair compares only the partitions both nodes
// hold, roots are no evidence of divergence, and nodes are grouped by their shared ranges.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterNodeView, ClusterView, DigestLevelView } from '../src/server/dashboard/index.js';
import { comparePairs, convergence, rootGroups, sharedRanges } from '../web/model.js';

/** A node holding `owned` of 4 partitions, with per-peer range verdicts. */
function node(
  id: string,
  owned: Array<[number, number]>,
  equal: Record<string, boolean> = {},
): ClusterNodeView {
  const status = {
    id,
    keys: 1,
    digest: { root: `${id}`.padEnd(16, '0'), leafBits: 12, ready: true },
    peers: Object.entries(equal).map(([peer, eq]) => ({ id: peer, ring: { shared: 1, equal: eq } })),
    ring: { epoch: 1, partitions: 4, replicationFactor: 2, members: ['a', 'b', 'c'], owned },
  } as unknown as ClusterNodeView['status'];
  return {
    id,
    url: null,
    self: id === 'a',
    reachable: true,
    error: null,
    latencyMs: 1,
    status,
    antiEntropy: null,
  };
}

function cluster(nodes: ClusterNodeView[]): ClusterView {
  return { self: 'a', nowMs: 0, repairRun: null, demo: null, nodes } as unknown as ClusterView;
}

function level(id: string, hashes: string[]): DigestLevelView {
  return { id, level: 2, leafBits: 12, ready: true, root: id, hashes: hashes.join(''), counts: [1, 1, 1, 1] };
}

const [h0, h1, h2] = ['0', '1', '2'].map((c) => c.repeat(16)) as [string, string, string];

test('a pair of nodes holding different partitions compares only the ones both hold', () => {
  // a holds 0-2, b holds 1-3, c holds 0 and 3: a-b share 1 and 2, a-c share 0, b-c share 3.
  const c = cluster([
    node('a', [[0, 2]]),
    node('b', [[1, 3]]),
    node('c', [
      [0, 0],
      [3, 3],
    ]),
  ]);
  assert.deepEqual([...sharedRanges(c, 'a', 'b')!.partitions], [1, 2]);
  const digest = {
    level: 2,
    nodes: [
      // a and b differ only in partition 0 (which b does not hold) and 3 (which a does not hold).
      { id: 'a', digest: level('a', [h0, h1, h1, h0]), error: null },
      { id: 'b', digest: level('b', [h2, h1, h1, h2]), error: null },
      { id: 'c', digest: level('c', [h0, h2, h2, h2]), error: null },
    ],
  };
  const pairs = comparePairs(digest as never, c);
  const ab = pairs.find((p) => p.a === 'a' && p.b === 'b')!;
  assert.equal(ab.shared, 2);
  assert.equal(ab.rootsEqual, true, 'equal over what they share, although their roots differ');
  assert.deepEqual(ab.differing, []);
  const bc = pairs.find((p) => p.a === 'b' && p.b === 'c')!;
  assert.equal(bc.rootsEqual, true, 'both have h2 in partition 3');
  assert.equal(convergence(c, pairs).kind, 'converged', 'different roots are not divergence with RF < N');
  // c now differs from a in partition 0, the only one they share.
  const split = {
    ...digest,
    nodes: [...digest.nodes.slice(0, 2), { id: 'c', digest: level('c', [h1, h2, h2, h2]), error: null }],
  };
  const ac = comparePairs(split as never, c).find((p) => p.a === 'a' && p.b === 'c')!;
  assert.deepEqual(ac.differing, [0]);
  assert.equal(convergence(c, comparePairs(split as never, c)).kind, 'diverging');
});

test('with RF < N nodes are grouped by their ranges, not by roots', () => {
  const c = cluster([
    node('a', [[0, 2]], { b: true, c: false }),
    node('b', [[1, 3]], { a: true, c: true }),
    node(
      'c',
      [
        [0, 0],
        [3, 3],
      ],
      { a: false, b: true },
    ),
  ]);
  const groups = rootGroups(c);
  assert.equal(groups.get('b'), 0);
  assert.equal(groups.get('a'), 1);
  assert.equal(groups.get('c'), 1);
});

test('with every node holding every partition the pairs compare roots as before', () => {
  const c = cluster([node('a', [[0, 3]]), node('b', [[0, 3]])]);
  assert.equal(sharedRanges(c, 'a', 'b'), null);
});

test('above the partitions level a pair falls back to what the nodes said of their shared ranges', () => {
  // At level 0 the one prefix spans every partition: nothing is wholly shared, so the nodes' word decides.
  const at0 = (id: string): DigestLevelView => ({ ...level(id, [h0]), level: 0, counts: [1] });
  const digest = { level: 0, nodes: ['a', 'b'].map((id) => ({ id, digest: at0(id), error: null })) };
  const equal = cluster([node('a', [[0, 2]], { b: true }), node('b', [[1, 3]], { a: true })]);
  assert.equal(comparePairs(digest as never, equal)[0]!.rootsEqual, true);
  const differ = cluster([node('a', [[0, 2]], { b: true }), node('b', [[1, 3]], { a: false })]);
  assert.equal(comparePairs(digest as never, differ)[0]!.rootsEqual, false);
  assert.equal(convergence(differ, comparePairs(digest as never, differ)).kind, 'diverging');
});
