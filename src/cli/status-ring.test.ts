import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeStatus } from '../services/status.js';
import { type NodeRow, statusText, verdictOf } from './status.js';

/** A reachable node of a 3-member ring with RF 2 (P 4): it holds `owned`, and says `equal` of each peer. */
function row(id: string, owned: Array<[number, number]>, equal: Record<string, boolean | null>): NodeRow {
  const status = {
    id,
    keys: 1,
    digest: { root: id.padEnd(16, '0'), leafBits: 8, ready: true },
    peers: Object.entries(equal).map(([peer, eq]) => ({
      id: peer,
      url: `http://${peer}`,
      reachable: true,
      lastSeenAgeMs: 0,
      hintsPending: 0,
      ring: { shared: 2, equal: eq },
    })),
    ring: { epoch: 1, partitions: 4, replicationFactor: 2, members: ['n1', 'n2', 'n3'], owned },
    mechanisms: { hints: true, readRepair: true, antiEntropy: true },
    hints: { pending: 0, bytes: 0 },
    // Not read by the verdict: an empty anti-entropy status stands for one.
    antiEntropy: {} as NodeStatus['antiEntropy'],
  } as NodeStatus;
  return { id, url: `http://${id}`, reachable: true, error: null, status };
}

const down = (id: string): NodeRow => ({
  id,
  url: `http://${id}`,
  reachable: false,
  error: 'down',
  status: null,
});

test('status with RF < N: one verdict from the ranges each pair shares, not from the roots', () => {
  const ok = verdictOf([
    row('n1', [[0, 2]], { n2: true, n3: true }),
    row('n2', [[1, 3]], { n1: true, n3: true }),
    row(
      'n3',
      [
        [0, 0],
        [3, 3],
      ],
      { n1: true, n2: true },
    ),
  ]);
  assert.deepEqual(ok, {
    verdict: 'converged',
    reason: "converged: every range's replicas hold the same records (3 members, RF 2, P 4)",
  });
  // One side seeing a difference is enough: the pair's shared ranges differ.
  const split = verdictOf([
    row('n1', [[0, 2]], { n2: true, n3: false }),
    row('n2', [[1, 3]], { n1: true, n3: true }),
    row(
      'n3',
      [
        [0, 0],
        [3, 3],
      ],
      { n1: null, n2: true },
    ),
  ]);
  assert.equal(split.verdict, 'divergent');
  assert.equal(split.reason, 'DIVERGENT: the ranges shared by n1-n3 differ');
  const partly = verdictOf([
    row('n1', [[0, 2]], { n2: true, n3: null }),
    row('n2', [[1, 3]], { n1: true }),
    down('n3'),
  ]);
  assert.equal(partly.verdict, 'unknown');
  assert.match(partly.reason, /^UNKNOWN: n3 unreachable, so convergence cannot be told/);
  const untold = verdictOf([row('n1', [[0, 2]], { n2: null }), row('n2', [[1, 3]], { n1: null })]);
  assert.equal(untold.verdict, 'unknown');
  assert.match(untold.reason, /n1-n2 have not been compared yet/);
});

test('status names a peer that runs another ring, and cannot promise convergence', () => {
  const n1 = row('n1', [[0, 2]], { n2: true });
  const mismatch = 'ring mismatch: peer n2 runs --replication-factor 3, this node 2';
  const peers = n1.status!.peers.map((p) => ({
    ...p,
    reachable: false,
    ring: { shared: 2, equal: null, mismatch },
  }));
  const rows = [{ ...n1, status: { ...n1.status!, peers } }, row('n2', [[0, 3]], {})];
  assert.equal(verdictOf(rows).verdict, 'unknown');
  assert.match(statusText(rows), new RegExp(`n1: RING MISMATCH with n2: ${mismatch}`));
});
