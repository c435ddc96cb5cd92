import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeStatus } from '../cluster/node-types.js';
import { aeSummary } from './status.js';

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
