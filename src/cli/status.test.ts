import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeStatus } from '../cluster/node-types.js';
import { aeSummary, storageLines } from './status.js';

function withPeers(peers: unknown[]): NodeStatus {
  return {
    id: 'n1',
    keys: 0,
    digest: { root: '0', leafBits: 8, ready: true },
    peers: [],
    mechanisms: { hints: true, readRepair: true, antiEntropy: true },
    hints: { pending: 0, bytes: 0 },
    antiEntropy: { enabled: true, paused: false, peers },
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

test('status: a paused node says since when, and a failing storage gets its own line', () => {
  const paused = {
    ...withPeers([]),
    antiEntropy: { enabled: true, paused: true, pausedSinceMs: Date.UTC(2026, 0, 2, 3, 4, 5), peers: [] },
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
