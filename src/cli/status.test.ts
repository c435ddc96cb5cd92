import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { nounFor } from '../../web/format.js';
import type { SessionHistoryEntry } from '../antientropy/types.js';
import type { NodeStatus } from '../services/status.js';
import { barState, finalState } from './antientropy.js';
import { jsonValue } from './kv.js';
import { failureLine, plural, usageLine } from './output.js';
import { aeSummary, type NodeRow, storageLines, verdictExitCodes, verdictOf } from './status.js';

function withPeers(peers: unknown[]): NodeStatus {
  return {
    id: 'n1',
    keys: 0,
    digest: { root: '0', leafBits: 8, ready: true },
    peers: [],
    mechanisms: { hints: true, readRepair: true, antiEntropy: true },
    hints: { pending: 0, bytes: 0 },
    antiEntropy: { enabled: true, paused: false, peers } as unknown as NodeStatus['antiEntropy'],
  };
}

test('status: a failed last session is not given the age of the last success', () => {
  const summary = aeSummary(
    withPeers([
      { peer: 'n2', running: null, last: { result: 'repaired' }, lastSuccessAgeSeconds: 3 },
      { peer: 'n3', running: null, last: { result: 'failed' }, lastSuccessAgeSeconds: null },
      { peer: 'n4', running: null, last: { result: 'failed' }, lastSuccessAgeSeconds: 90 },
      { peer: 'n5', running: { fraction: 0.42 }, last: null, lastSuccessAgeSeconds: null },
    ]),
  );
  const parts = summary.split('; ');
  assert.match(parts[0]!, /^n2: repaired \S+ ago$/);
  assert.equal(parts[1], 'n3: failed, never succeeded');
  assert.match(parts[2]!, /^n4: failed, last success \S+ ago$/);
  assert.equal(parts[3], 'n5: running 42%');
});

function row(id: string, root: string | null, ready = true): NodeRow {
  const status = root === null ? null : { ...withPeers([]), id, digest: { root, leafBits: 8, ready } };
  return { id, url: `http://${id}`, reachable: root !== null, error: root === null ? 'down' : null, status };
}

test('status: three verdicts with exit codes 0, 1 and 2', () => {
  assert.deepEqual(verdictExitCodes, { converged: 0, divergent: 1, unknown: 2 });
  const ok = verdictOf([row('n1', 'aa'), row('n2', 'aa'), row('n3', 'aa')]);
  assert.deepEqual(ok, {
    verdict: 'converged',
    reason: 'converged: all 3 replicas have the same digest root',
  });
  // One replica down, the others equal: nothing is known about the one that did not answer.
  const down = verdictOf([row('n1', 'aa'), row('n2', 'aa'), row('n3', null)]);
  assert.equal(down.verdict, 'unknown');
  assert.equal(
    down.reason,
    'UNKNOWN: n3 unreachable, so convergence cannot be told (the 2 reachable replicas agree)',
  );
  // Two replicas that answered differ: divergent, whatever the one that did not answer holds.
  const split = verdictOf([row('n1', 'aa'), row('n2', 'bb'), row('n3', null)]);
  assert.equal(split.verdict, 'divergent');
  assert.equal(
    split.reason,
    'DIVERGENT: 2 different digest roots among the reachable replicas (n1 | n2); unreachable: n3',
  );
  const rebuilding = verdictOf([row('n1', 'aa'), row('n2', 'aa', false)]);
  assert.deepEqual(rebuilding, {
    verdict: 'unknown',
    reason: 'UNKNOWN: the digest of n2 is still being rebuilt',
  });
  assert.equal(verdictOf([row('n1', 'aa')]).reason, 'converged: the only replica (no peers)');
});

test('the repair bar counts keys: its percentage is the count, no ETA before the node has one, the end is the result', () => {
  const early = barState('n2', { divergent: 0, repaired: 0 }, null);
  assert.deepEqual(early.payload, { peer: 'n2', pct: 0, repaired: 0, divergent: 0, eta: '' });
  assert.equal(early.total, 1, 'a positive total for an empty bar');
  const mid = barState('n2', { divergent: 5423, repaired: 500 }, 4000);
  assert.equal(mid.payload.pct, 9);
  assert.equal(mid.payload.eta, ' | ETA 4s');
  assert.equal(mid.value / mid.total, 500 / 5423, 'the bar fills as the count grows');
  const last = finalState('n2', [
    { keysDivergent: 6000, keysPulled: 6000, keysPushed: 0 },
    { keysDivergent: 4000, keysPulled: 1000, keysPushed: 3000 },
  ] as unknown as SessionHistoryEntry[]);
  assert.deepEqual(
    [last.value, last.total, last.payload.pct, last.payload.repaired],
    [10_000, 10_000, 100, 10_000],
  );
});

test('words agree with their numbers; failures and usage errors are one line of `converge: reason`', () => {
  assert.equal(plural(1, 'session'), '1 session');
  assert.equal(plural(2, 'round trip'), '2 round trips');
  assert.equal(plural(1, 'history', 'histories'), '1 history');
  assert.equal(plural(0, 'history', 'histories'), '0 histories');
  assert.equal(usageLine("error: unknown option '--x'\n"), "converge: unknown option '--x'\n");
  assert.equal(failureLine(new Error('first line\nsecond')), 'converge: first line\n');
  assert.deepEqual(jsonValue(new Uint8Array([0x68, 0x69])), { value: 'hi', encoding: 'utf8' });
  assert.deepEqual(jsonValue(new Uint8Array([0xff, 0x00])), { value: '/wA=', encoding: 'base64' });
});

test('the dashboard says 1 session and 1 round trip, and the panels use that wording', () => {
  assert.equal(nounFor(1, 'session'), 'session');
  assert.equal(nounFor(3, 'round trip'), 'round trips');
  const panels = ['overview', 'sessions'].map((p) =>
    readFileSync(new URL(`../../web/panels/${p}.ts`, import.meta.url), 'utf8'),
  );
  for (const text of panels) assert.doesNotMatch(text, /'sessions running'|'sessions seen'|\} round trips/);
});

test('status: a paused node says since when, and a failing storage gets its own line', () => {
  const paused = {
    ...withPeers([]),
    antiEntropy: {
      enabled: true,
      paused: true,
      pausedSinceMs: Date.UTC(2026, 0, 2, 3, 4, 5),
      peers: [],
    } as unknown as NodeStatus['antiEntropy'],
  };
  assert.match(aeSummary(paused), /^paused since 2026-01-02T03:04:05\.000Z; /);
  const failing = {
    ...withPeers([]),
    storage: {
      state: 'failing' as const,
      code: 'DISK_FULL',
      message: 'the disk is full',
      sinceMs: Date.UTC(2026, 0, 2),
      retryAtMs: 0,
      failures: 3,
      refused: 9,
      recoveries: 0,
    },
  };
  const rows = [
    { id: 'n1', url: 'http://a', reachable: true, error: null, status: failing },
    { id: 'n2', url: 'http://b', reachable: true, error: null, status: withPeers([]) },
  ];
  assert.deepEqual(storageLines(rows), [
    '',
    'n1: STORAGE FAILING (DISK_FULL) since 2026-01-02T00:00:00.000Z: the disk is full; writes refused, reads go on',
  ]);
});
