import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConvergeError, type ErrorCode } from './errors.js';
import {
  beginDecommission,
  beginJoin,
  beginReplace,
  cancelChange,
  createMembership,
  type MembershipState,
} from './membership.js';
import { checkMembership } from './membership-check.js';
import {
  markCleaned,
  markStreamed,
  moveOwnership,
  ownersToVerify,
  sourcesRequired,
  streamingVerdict,
} from './membership-moves.js';
import { membershipStatus, streamingEtaMs } from './membership-status.js';
import { Topology } from './topology.js';
import { replicasMoved } from './topology-claim.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const lists = (t: Topology): string[][] =>
  Array.from({ length: t.partitions }, (_, p) => [...t.replicasOf(p)]);
const graceMs = 1000;

function refused(f: () => unknown, code: ErrorCode, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ConvergeError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

/** Digests that show every partition caught up: every member reports the same value. */
function agreeing(s: MembershipState): Map<string, string> {
  return new Map(s.members.map((m) => [m.id, 'equal']));
}

/** Drives every move of the change to its end, as a node would once each partition streamed. */
function complete(start: MembershipState, nowMs = 0): MembershipState {
  let s = start;
  for (const { partition } of start.change?.moves ?? []) {
    s = markStreamed(s, partition, agreeing(s));
    s = moveOwnership(s, partition, agreeing(s), nowMs);
  }
  for (const { partition } of start.change?.moves ?? [])
    s = markCleaned(s, partition, nowMs + graceMs, graceMs);
  return s;
}

type Kind = 'join' | 'decommission' | 'replace';
const kindArb = fc.constantFrom<Kind>('join', 'decommission', 'replace');

function beginOf(s: MembershipState, kind: Kind, n: number, pick: number): MembershipState {
  const victim = `n${(pick % n) + 1}`;
  if (kind === 'join') return beginJoin(s, `n${n + 1}`);
  if (kind === 'decommission') return beginDecommission(s, victim);
  return beginReplace(s, victim, 'x1');
}

test('membership: a join moves exactly the claim rule share, and every step is one epoch', () => {
  const ring = Topology.create({ members: ids(3) });
  const s0 = createMembership(ring);
  const s1 = beginJoin(s0, 'n4');
  assert.equal(s1.epoch, s0.epoch + 1);
  assert.deepEqual(
    s1.members.map((m) => `${m.id}:${m.state}`),
    ['n1:normal', 'n2:normal', 'n3:normal', 'n4:joining'],
  );
  // Topology.withMembers gives the newcomer 256 x 3 / 4 replicas, one per moving partition.
  assert.equal(s1.change!.moves.length, 192);
  assert.ok(s1.change!.moves.every((m) => ownersToVerify(m).join() === 'n4'));
  assert.deepEqual(lists(s1.ring), lists(ring), 'the ring stays as it was until partitions move');
  const done = complete(s1);
  assert.equal(done.change, null);
  assert.equal(done.epoch, s1.epoch + 3 * 192);
  assert.ok(done.members.every((m) => m.state === 'normal'));
  assert.equal(replicasMoved(lists(ring), lists(done.ring)), 192);
  assert.deepEqual(lists(done.ring), lists(ring.withMembers(ids(4))));
  checkMembership(done);
});

test('membership: one change at a time, unknown and existing members refused with their codes', () => {
  const s0 = createMembership(Topology.create({ members: ids(3), partitions: 16 }));
  const s1 = beginJoin(s0, 'n4');
  refused(
    () => beginJoin(s1, 'n5'),
    'CHANGE_IN_PROGRESS',
    /join of n4 \(since epoch 2, 0\/\d+ partitions moved\)/,
  );
  refused(() => beginDecommission(s1, 'n1'), 'CHANGE_IN_PROGRESS', /one change runs at a time/);
  refused(() => beginReplace(s1, 'n1', 'n9'), 'CHANGE_IN_PROGRESS', /join of n4/);
  refused(() => beginJoin(s0, 'n2'), 'MEMBER_EXISTS', /n2 is already a member/);
  refused(() => beginDecommission(s0, 'n7'), 'MEMBER_UNKNOWN', /n7 is not a member \(members: n1, n2, n3\)/);
  refused(() => beginReplace(s0, 'n7', 'n9'), 'MEMBER_UNKNOWN', /n7 is not a member/);
  refused(() => beginReplace(s0, 'n1', 'n3'), 'MEMBER_EXISTS', /n3 is already a member/);
  refused(() => cancelChange(s0), 'NO_CHANGE_IN_PROGRESS', /no membership change/);
  refused(() => markStreamed(s0, 0, new Map()), 'NO_CHANGE_IN_PROGRESS', /no membership change/);
  const one = createMembership(Topology.create({ members: ['solo'], partitions: 4 }));
  refused(() => beginDecommission(one, 'solo'), 'MEMBERSHIP_INVALID', /last member/);
  refused(() => beginReplace(one, 'solo', 'x'), 'MEMBERSHIP_INVALID', /at least 2 replicas/);
  refused(
    () => createMembership(Topology.create({ members: [{ id: 'a', state: 'leaving' }] })),
    'MEMBERSHIP_INVALID',
    /only normal members/,
  );
});

test('membership: a partition streams, moves and is cleaned in order, on evidence only', () => {
  const s0 = createMembership(Topology.create({ members: ids(3), partitions: 16 }));
  const s1 = beginJoin(s0, 'n4');
  const p = s1.change!.moves[0]!.partition;
  const behind = new Map([...agreeing(s1)].map(([id, d]) => [id, id === 'n4' ? 'older' : d]));
  refused(
    () => markStreamed(s1, p, behind),
    'RANGE_NOT_STREAMED',
    new RegExp(`partition ${p} .*n4 does not hold`),
  );
  // One old owner agreeing is not enough with RF 3: a quorum write may be on the other two.
  const lonely = new Map([
    ['n4', 'd'],
    [s1.change!.moves[0]!.from[0]!, 'd'],
  ]);
  refused(() => markStreamed(s1, p, lonely), 'RANGE_NOT_STREAMED', /do(es)? not hold/);
  refused(
    () => moveOwnership(s1, p, agreeing(s1), 5),
    'MEMBERSHIP_INVALID',
    /is pending; it cannot be moved/,
  );
  const s2 = markStreamed(s1, p, agreeing(s1));
  assert.equal(markStreamed(s2, p, agreeing(s2)), s2, 'marking again changes nothing');
  const s3 = moveOwnership(s2, p, agreeing(s2), 5);
  refused(
    () => markCleaned(s3, p, 5 + graceMs - 1, graceMs),
    'MEMBERSHIP_INVALID',
    /may be cleaned from 1005 ms/,
  );
  const s4 = markCleaned(s3, p, 5 + graceMs, graceMs);
  assert.equal(s4.change!.moves[0]!.state, 'cleaned');
  const unmoved = [...Array(16).keys()].find((q) => !s1.change!.moves.some((m) => m.partition === q));
  if (unmoved !== undefined) {
    refused(
      () => markStreamed(s4, unmoved, agreeing(s4)),
      'MEMBERSHIP_INVALID',
      /does not move in this change/,
    );
  }
});

test('membership: any change run to its end leaves a valid, balanced ring with the right members', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 7 }),
      fc.integer({ min: 0, max: 6 }).map((b) => 2 ** b),
      fc.integer({ min: 2, max: 4 }),
      kindArb,
      fc.nat(),
      (n, partitions, rf, kind, pick) => {
        const ring = Topology.create({ members: ids(n), partitions, replicationFactor: rf });
        const s1 = beginOf(createMembership(ring), kind, n, pick);
        checkMembership(s1);
        const done = complete(s1);
        checkMembership(done);
        assert.equal(done.change, null);
        const expect =
          kind === 'join'
            ? ring.withMembers(ids(n + 1))
            : kind === 'decommission'
              ? ring.withMembers(ids(n).filter((id) => id !== `n${(pick % n) + 1}`))
              : null;
        if (expect !== null) {
          const sets = (t: Topology) => lists(t).map((l) => [...l].sort().join());
          assert.deepEqual(sets(done.ring), sets(expect));
          assert.deepEqual(
            done.members.map((m) => m.id),
            expect.members.map((m) => m.id),
          );
        } else {
          // A replace puts the new node in the dead one's place: the same shares, nothing else moves.
          const dead = `n${(pick % n) + 1}`;
          assert.deepEqual(done.ring.ownedBy('x1'), ring.ownedBy(dead));
          assert.equal(done.ring.isMember(dead), false);
          assert.equal(s1.change?.moves.length ?? 0, ring.ownedBy(dead).length);
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('membership: a cancel leaves the ring exactly as it was; refused once a partition moved', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 6 }), kindArb, fc.nat(), fc.nat(), (n, kind, pick, streamed) => {
      const ring = Topology.create({ members: ids(n), partitions: 32, replicationFactor: 3 });
      const s0 = createMembership(ring);
      let s = beginOf(s0, kind, n, pick);
      const moves = s.change!.moves;
      for (const m of moves.slice(0, streamed % (moves.length + 1)))
        s = markStreamed(s, m.partition, agreeing(s));
      const back = cancelChange(s);
      checkMembership(back);
      assert.equal(back.change, null);
      assert.equal(back.epoch, s.epoch + 1);
      assert.deepEqual(lists(back.ring), lists(ring));
      assert.deepEqual(back.members, s0.members);
      const moved = moveOwnership(
        markStreamed(s, moves[0]!.partition, agreeing(s)),
        moves[0]!.partition,
        agreeing(s),
        1,
      );
      refused(() => cancelChange(moved), 'CHANGE_NOT_CANCELLABLE', /1 of the \d+ partitions .* have moved/);
    }),
    { numRuns: 100 },
  );
});

test('membership: the evidence needs w - quorum(w) + 1 agreeing live old owners, whichever they are', () => {
  for (const [rf, required] of [
    [2, 1],
    [3, 2],
    [4, 2],
    [5, 3],
  ] as const) {
    const s0 = createMembership(Topology.create({ members: ids(rf), partitions: 16, replicationFactor: rf }));
    const s1 = beginJoin(s0, 'new');
    const move = s1.change!.moves[0]!;
    assert.equal(sourcesRequired(move), required);
    // The last `required` old owners agree with the newcomer, the others hold something else.
    const digests = new Map(move.from.map((id, i) => [id, i >= rf - required ? 'same' : `other-${i}`]));
    digests.set('new', 'same');
    assert.equal(streamingVerdict(move, s1.change!, digests).ok, true, `rf ${rf}`);
    digests.set(move.from[rf - 1]!, 'stale');
    const verdict = streamingVerdict(move, s1.change!, digests);
    assert.equal(verdict.ok, false, `rf ${rf}: one fewer agreeing source`);
    assert.ok(verdict.behind.length > 0);
  }
});

test('membership: the status counts partitions by state, shares before and after, and an ETA', () => {
  const s0 = createMembership(Topology.create({ members: ids(3) }));
  const settled = membershipStatus(s0);
  assert.equal(settled.change, null);
  assert.deepEqual(
    settled.members.map((m) => [m.id, m.state, m.owned, m.ownedAfter]),
    ids(3).map((id) => [id, 'normal', 256, 256]),
  );
  let s = beginJoin(s0, 'n4');
  const first = s.change!.moves[0]!.partition;
  s = markStreamed(s, first, agreeing(s));
  const status = membershipStatus(s, { recordsLeft: 5000, recordsPerSec: 2000 });
  assert.deepEqual(status.change?.partitions, {
    pending: 191,
    streamed: 1,
    moved: 0,
    cleaned: 0,
    total: 192,
  });
  assert.equal(status.change?.etaMs, 2500);
  assert.equal(membershipStatus(s).change?.etaMs, null, 'no rate measured yet');
  assert.equal(streamingEtaMs({ recordsLeft: 10, recordsPerSec: 0 }), null, 'stalled');
  const n4 = status.members.find((m) => m.id === 'n4')!;
  assert.deepEqual([n4.state, n4.owned, n4.ownedAfter], ['joining', 0, 192]);
  assert.equal(
    status.members.reduce((sum, m) => sum + m.ownedAfter, 0),
    256 * 3,
  );
  assert.deepEqual(JSON.parse(JSON.stringify(status)), status, 'plain data');
});
