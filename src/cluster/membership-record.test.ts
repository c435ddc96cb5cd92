// The membership record (what members store and exchange): round trip, and every bad input refused with
// MEMBERSHIP_INVALID (or the codec's PROTOCOL_* codes), never a state the transitions could not make.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { beginJoin, createMembership } from '../core/membership.js';
import { replicaSetsOf } from '../core/membership-replicas.js';
import { Topology } from '../core/topology.js';
import {
  decodeMembershipRecord,
  encodeMembershipRecord,
  parseMembershipHeader,
  writeSetTopology,
} from './membership-record.js';

const settled = createMembership(Topology.create({ members: ['n1', 'n2', 'n3'], partitions: 16 }));
const joining = beginJoin(settled, 'n4');
const addresses = new Map([
  ['n1', 'http://127.0.0.1:7101'],
  ['n4', 'http://127.0.0.1:7104'],
]);

test('a record round-trips: state, addresses and driver', () => {
  const bytes = encodeMembershipRecord({ state: joining, addresses, driver: 'n1' });
  const back = decodeMembershipRecord(bytes);
  assert.equal(back.state.epoch, joining.epoch);
  assert.equal(back.state.change?.member, 'n4');
  assert.deepEqual([...back.addresses], [...addresses]);
  assert.equal(back.driver, 'n1');
  assert.deepEqual(encodeMembershipRecord(back), bytes);
});

test('bad records are refused with a code, naming what is wrong', () => {
  const good = JSON.parse(
    new TextDecoder().decode(encodeMembershipRecord({ state: joining, addresses, driver: 'n1' })),
  ) as Record<string, unknown>;
  const cases: Array<[string, unknown]> = [
    ['not JSON', 'nope'],
    ['format 2', { ...good, format: 2 }],
    ['state missing', { ...good, state: 7 }],
    ['state truncated', { ...good, state: (good.state as string).slice(0, 12) }],
    ['address not a URL', { ...good, addresses: { n1: 'ftp://x' } }],
    ['addresses a list', { ...good, addresses: [] }],
    ['driver not a member', { ...good, driver: 'n9' }],
  ];
  for (const [what, value] of cases) {
    const bytes = new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
    assert.throws(
      () => decodeMembershipRecord(bytes),
      (err: unknown) => err instanceof ConvergeError && /^(MEMBERSHIP_INVALID|PROTOCOL_)/.test(err.code),
      what,
    );
  }
});

test("the routing view lists each partition's write set, at the state's epoch", () => {
  const view = writeSetTopology(joining);
  assert.equal(view.epoch, joining.epoch);
  for (let p = 0; p < view.partitions; p++)
    assert.deepEqual(view.replicasOf(p), replicaSetsOf(joining, p).write);
  const moving = joining.change!.moves[0]!;
  assert.equal(view.replicasOf(moving.partition).length, 4, 'old owners and the newcomer');
  assert.ok(view.peersOf('n4').length > 0, 'the newcomer shares its pending partitions');
});

test('membership headers parse only as EPOCH.FINGERPRINT', () => {
  assert.deepEqual(parseMembershipHeader('12.0123456789abcdef'), {
    epoch: 12,
    fingerprint: '0123456789abcdef',
  });
  for (const bad of [undefined, '', '12', '12.xyz', 'a.0123456789abcdef', '1.0123456789abcdef0'])
    assert.equal(parseMembershipHeader(bad), null, String(bad));
});
