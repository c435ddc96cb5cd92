// The header check of internal requests under a membership: a fork at one epoch is refused, a replicated
// write coordinated before this replica's last move is fenced, and the routes a member behind (or a joiner)
// needs pass.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { createMembership } from '../core/membership.js';
import { Topology } from '../core/topology.js';
import { checkMembershipRequest, type NodeMembership } from './node-membership.js';

function fake(header: string, fenceEpoch: number): NodeMembership & { seen: string[] } {
  const seen: string[] = [];
  const state = createMembership(Topology.create({ members: ['n1', 'n2', 'n3'], partitions: 16 }));
  return {
    seen,
    header: () => header,
    fenceEpoch: () => fenceEpoch,
    observe: (peer, h) => void seen.push(`${peer}:${h}`),
    onPingFailed: () => undefined,
    addressOf: () => undefined,
    current: () => state,
    catchUp: async () => undefined,
  };
}

const code = (c: string) => (err: unknown) => err instanceof ConvergeError && err.code === c;
const mine = '7.00000000000000aa';

test('same epoch, another fingerprint: RING_MISMATCH; another epoch passes and is observed', () => {
  const m = fake(mine, 0);
  assert.throws(
    () => checkMembershipRequest(m, 'n1', 'read', 'n2', '7.00000000000000bb'),
    code('RING_MISMATCH'),
  );
  checkMembershipRequest(m, 'n1', 'read', 'n2', '6.00000000000000bb');
  checkMembershipRequest(m, 'n1', 'ae/begin', 'n3', '8.00000000000000cc');
  assert.deepEqual(m.seen.slice(-2), ['n2:6.00000000000000bb', 'n3:8.00000000000000cc']);
  assert.throws(() => checkMembershipRequest(m, 'n1', 'read', 'n2', 'garbage'), code('RING_MISMATCH'));
});

test('replicated writes coordinated below the fence epoch are refused MEMBERSHIP_STALE; reads are not', () => {
  const m = fake(mine, 7);
  for (const route of ['replicate', 'hint', 'repair', 'replicate/batch']) {
    assert.throws(
      () => checkMembershipRequest(m, 'n1', route, 'n2', '6.00000000000000bb'),
      code('MEMBERSHIP_STALE'),
      route,
    );
    checkMembershipRequest(m, 'n1', route, 'n2', mine);
  }
  checkMembershipRequest(m, 'n1', 'read', 'n2', '6.00000000000000bb');
});

test('pings, the membership routes and header-less requests pass unchecked', () => {
  const m = fake(mine, 9);
  checkMembershipRequest(m, 'n1', 'ping', 'n2', '7.00000000000000bb');
  checkMembershipRequest(m, 'n1', 'membership/join', 'n4', '');
  checkMembershipRequest(m, 'n1', 'membership/state', 'n2', '1.00000000000000bb');
  checkMembershipRequest(m, 'n1', 'replicate', undefined, undefined);
  assert.deepEqual(m.seen, []);
});
