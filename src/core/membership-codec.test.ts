import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConvergeError } from './errors.js';
import {
  beginDecommission,
  beginJoin,
  beginReplace,
  createMembership,
  type MembershipState,
} from './membership.js';
import { decodeMembership, encodeMembership, membershipBytesMax } from './membership-codec.js';
import {
  compareMembershipHeaders,
  installedEpochOf,
  laterMembership,
  membershipFingerprint,
  membershipHeader,
  shouldAdopt,
} from './membership-gossip.js';
import { markCleaned, markStreamed, moveOwnership } from './membership-moves.js';
import { Topology } from './topology.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const lists = (t: Topology): string[][] =>
  Array.from({ length: t.partitions }, (_, p) => [...t.replicasOf(p)]);
const agreeing = (s: MembershipState) => new Map(s.members.map((m) => [m.id, 'd']));

/** A state some way into a change: each move advanced by 0-3 steps (3 = cleaned). */
function stateArb(): fc.Arbitrary<MembershipState> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 7 }),
      bits: fc.integer({ min: 0, max: 6 }),
      rf: fc.integer({ min: 1, max: 4 }),
      kind: fc.constantFrom('none', 'join', 'decommission', 'replace'),
      steps: fc.array(fc.nat(3), { maxLength: 64 }),
    })
    .map(({ n, bits, rf, kind, steps }) => {
      const s0 = createMembership(
        Topology.create({ members: ids(n), partitions: 2 ** bits, replicationFactor: rf }),
      );
      let s = s0;
      try {
        if (kind === 'join') s = beginJoin(s0, 'joiner-é');
        if (kind === 'decommission') s = beginDecommission(s0, 'n1');
        if (kind === 'replace') s = beginReplace(s0, 'n1', 'x');
      } catch {
        return s0; // a change this ring refuses (one member, one replica): the settled state is a case too
      }
      for (const [i, move] of (s.change?.moves ?? []).entries()) {
        const k = steps[i % Math.max(1, steps.length)] ?? 0;
        if (s.change === null) break;
        if (k >= 1) s = markStreamed(s, move.partition, agreeing(s));
        if (k >= 2) s = moveOwnership(s, move.partition, agreeing(s), 1_700_000_000_000 + i);
        if (k >= 3) s = markCleaned(s, move.partition, 1_800_000_000_000, 0);
      }
      return s;
    });
}

function same(a: MembershipState, b: MembershipState): void {
  assert.equal(b.epoch, a.epoch);
  assert.deepEqual(b.members, a.members);
  assert.deepEqual(lists(b.ring), lists(a.ring));
  assert.equal(b.ring.epoch, a.ring.epoch);
  assert.equal(b.ring.replicationFactor, a.ring.replicationFactor);
  assert.deepEqual(b.change, a.change);
}

test('membership codec: any state reads back as it was, byte for byte', () => {
  fc.assert(
    fc.property(stateArb(), (s) => {
      const bytes = encodeMembership(s);
      const back = decodeMembership(bytes);
      same(s, back);
      assert.deepEqual(encodeMembership(back), bytes);
    }),
    { numRuns: 300 },
  );
});

test('membership codec: compact (a 3-node ring of 256 partitions, and a join in progress)', (t) => {
  const s0 = createMembership(Topology.create({ members: ids(3) }));
  const s1 = beginJoin(s0, 'n4');
  const settled = encodeMembership(s0).length;
  const joining = encodeMembership(s1).length;
  t.diagnostic(`encoded: settled ${settled} bytes, join of a 4th node in progress ${joining} bytes`);
  assert.ok(settled < 256 * 3 + 64, `${settled} bytes`);
  assert.ok(joining < settled + 192 * 12, `${joining} bytes`);
});

const codes = new Set(['PROTOCOL_INVALID', 'PROTOCOL_TOO_LARGE', 'PROTOCOL_VERSION', 'MEMBERSHIP_INVALID']);

function decodesOrRefuses(bytes: Uint8Array): MembershipState | null {
  try {
    return decodeMembership(bytes);
  } catch (e) {
    assert.ok(e instanceof ConvergeError, `not a ConvergeError: ${String(e)}`);
    assert.ok(codes.has(e.code), `${e.code}: ${e.message}`);
    return null;
  }
}

test('membership codec: fuzzed, truncated and random bytes only ever raise clear errors', () => {
  const mutated = stateArb().chain((s) => {
    const bytes = encodeMembership(s);
    return fc.oneof(
      fc.tuple(fc.nat(), fc.nat(255)).map(([at, v]) => {
        const x = bytes.slice();
        x[at % x.length] = v;
        return x;
      }),
      fc.nat(bytes.length - 1).map((n) => bytes.slice(0, n)),
      fc.tuple(fc.nat(bytes.length), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([at, extra]) => {
        const x = new Uint8Array(bytes.length + extra.length);
        x.set(bytes.subarray(0, at));
        x.set(extra, at);
        x.set(bytes.subarray(at), at + extra.length);
        return x;
      }),
    );
  });
  fc.assert(
    fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 96 })), (bytes) => {
      const s = decodesOrRefuses(bytes);
      // A mutation may land on another valid state: then it is one the transitions could make.
      if (s !== null) assert.deepEqual(encodeMembership(s), bytes);
    }),
    { numRuns: 2000 },
  );
  // Every proper prefix of a valid state is refused (no silent partial read).
  const whole = encodeMembership(
    beginJoin(createMembership(Topology.create({ members: ids(3), partitions: 8 })), 'n4'),
  );
  for (let n = 0; n < whole.length; n++)
    assert.equal(decodesOrRefuses(whole.slice(0, n)), null, `prefix ${n}`);
});

test('membership codec: the version, the size bound and impossible states are named', () => {
  const good = encodeMembership(createMembership(Topology.create({ members: ids(3), partitions: 4 })));
  const other = good.slice();
  other[0] = 2;
  assert.throws(() => decodeMembership(other), {
    code: 'PROTOCOL_VERSION',
    message: /format 2; this node reads 1/,
  });
  assert.throws(() => decodeMembership(Uint8Array.of(...good, 0)), {
    code: 'PROTOCOL_INVALID',
    message: /1 trailing bytes after membership state/,
  });
  assert.throws(() => decodeMembership(new Uint8Array(membershipBytesMax + 1)), {
    code: 'PROTOCOL_TOO_LARGE',
    message: /membershipBytesMax/,
  });
  // A well-formed encoding of a state no transition makes: a join whose newcomer is marked normal.
  const s1 = beginJoin(createMembership(Topology.create({ members: ids(3), partitions: 4 })), 'n4');
  const forged = { ...s1, members: s1.members.map((m) => ({ id: m.id, state: 'normal' as const })) };
  assert.throws(() => decodeMembership(encodeMembership(forged)), {
    code: 'MEMBERSHIP_INVALID',
    message: /member n4 is normal, the change makes it joining/,
  });
  // A padded varint (0 as 0x80 0x00) reads as the same number: refused, so that one state has one encoding.
  const padded = Uint8Array.of(1, 0x81, 0x00, ...good.subarray(2));
  assert.throws(() => decodeMembership(padded), { code: 'PROTOCOL_INVALID', message: /canonical/ });
  const wrongFrom = {
    ...s1,
    change: {
      ...s1.change!,
      moves: s1.change!.moves.map((m, i) => (i === 0 ? { ...m, from: [...m.from].reverse() } : m)),
    },
  };
  assert.throws(() => decodeMembership(encodeMembership(wrongFrom)), {
    code: 'MEMBERSHIP_INVALID',
    message: /the old owners are not the ring's/,
  });
});

test('membership gossip: one total order, so every member keeps the same state whatever the arrival order', () => {
  fc.assert(
    fc.property(fc.array(stateArb(), { minLength: 1, maxLength: 6 }), fc.nat(), (states, rot) => {
      const keep = (xs: MembershipState[]) => xs.reduce((a, b) => laterMembership(a, b));
      const rotated = [...states.slice(rot % states.length), ...states.slice(0, rot % states.length)];
      const a = keep(states);
      const b = keep([...rotated].reverse());
      assert.equal(membershipFingerprint(a), membershipFingerprint(b));
      for (const s of states) {
        assert.ok(compareMembershipHeaders(membershipHeader(s), membershipHeader(a)) <= 0);
        assert.equal(shouldAdopt(membershipHeader(a), membershipHeader(s)), false);
      }
    }),
    { numRuns: 200 },
  );
  const s0 = createMembership(Topology.create({ members: ids(3), partitions: 8 }));
  const join = beginJoin(s0, 'n4');
  const leave = beginDecommission(s0, 'n1');
  // Two drivers began different changes at the same epoch: the fingerprints settle it, the same everywhere.
  assert.equal(join.epoch, leave.epoch);
  assert.notEqual(membershipFingerprint(join), membershipFingerprint(leave));
  assert.equal(laterMembership(join, leave), laterMembership(leave, join));
  assert.equal(shouldAdopt(membershipHeader(s0), membershipHeader(join)), true);
  // The await-epoch step reads the lowest epoch every member reported; a replace's dead member is not waited for.
  assert.equal(
    installedEpochOf(
      join,
      new Map([
        ['n1', 2],
        ['n2', 2],
        ['n3', 2],
      ]),
    ),
    0,
    'the joiner has not reported',
  );
  assert.equal(
    installedEpochOf(
      join,
      new Map([
        ['n1', 2],
        ['n2', 3],
        ['n3', 2],
        ['n4', 2],
      ]),
    ),
    2,
  );
  const replace = beginReplace(s0, 'n1', 'x');
  assert.equal(
    installedEpochOf(
      replace,
      new Map([
        ['n2', 2],
        ['n3', 2],
        ['x', 2],
      ]),
    ),
    2,
  );
});
