import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DigestTree } from './digest.js';
import { ConvergeError } from './errors.js';
import { tokenOf } from './hash.js';
import { partitionRuns, quorumOf, Topology } from './topology.js';
import { replicasMoved } from './topology-claim.js';
import {
  compareRings,
  describeTopology,
  LiveTopology,
  parseRingDescription,
  ringMismatchError,
} from './topology-describe.js';
import { ownedWatermarksMs, partitionWatermarkMs } from './topology-watermark.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const lists = (t: Topology): string[][] =>
  Array.from({ length: t.partitions }, (_, p) => [...t.replicasOf(p)]);

/** Member ids, distinct, in arbitrary order. */
const membersArb = fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 12 });
const partitionsArb = fc.integer({ min: 0, max: 9 }).map((b) => 2 ** b);
const rfArb = fc.integer({ min: 1, max: 5 });

function checkInvariants(t: Topology): void {
  const n = t.members.length;
  const target = (t.partitions * t.replicas) / n;
  for (let p = 0; p < t.partitions; p++) {
    const list = t.replicasOf(p);
    assert.equal(list.length, Math.min(t.replicationFactor, n));
    assert.equal(new Set(list).size, list.length, `partition ${p}: replicas on distinct members`);
  }
  for (const m of t.members) {
    const owned = t.ownedBy(m.id).length;
    assert.ok(Math.abs(owned - target) < 1, `${m.id} owns ${owned}, target ${target}`);
  }
}

/** With RF = N every pair shares every partition, so the heads can always be evened out to within one. */
function checkHeads(t: Topology): void {
  if (t.replicas !== t.members.length) return;
  const heads = new Map<string, number>();
  for (let p = 0; p < t.partitions; p++)
    heads.set(t.replicasOf(p)[0]!, (heads.get(t.replicasOf(p)[0]!) ?? 0) + 1);
  const counts = t.members.map((m) => heads.get(m.id) ?? 0);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `heads ${counts}`);
}

test('topology: balanced within one partition of P x RF / N, replicas on distinct members', () => {
  fc.assert(
    fc.property(membersArb, partitionsArb, rfArb, (members, partitions, rf) => {
      const t = Topology.create({ members, partitions, replicationFactor: rf });
      checkInvariants(t);
      checkHeads(t);
    }),
    { numRuns: 300 },
  );
});

test('topology: the same members in any order give the same assignment', () => {
  fc.assert(
    fc.property(
      membersArb.chain((m) => fc.tuple(fc.constant(m), fc.shuffledSubarray(m, { minLength: m.length }))),
      partitionsArb,
      rfArb,
      ([members, shuffled], partitions, rf) => {
        const a = Topology.create({ members, partitions, replicationFactor: rf });
        const b = Topology.create({ members: shuffled, partitions, replicationFactor: rf });
        assert.deepEqual(lists(a), lists(b));
        assert.equal(describeTopology(a).fingerprint, describeTopology(b).fingerprint);
      },
    ),
    { numRuns: 200 },
  );
});

test('topology: N = RF = 3 gives every node every partition (full replication, as before the ring)', () => {
  const t = Topology.create({ members: ['n3', 'n1', 'n2'] });
  assert.equal(t.partitions, 256);
  assert.equal(t.quorum(), 2);
  for (let p = 0; p < t.partitions; p++) assert.deepEqual([...t.replicasOf(p)].sort(), ['n1', 'n2', 'n3']);
  for (const id of ids(3)) assert.equal(t.ownedBy(id).length, 256);
  assert.equal(t.sharedPartitions('n1', 'n2').length, 256);
  // The heads of the preference lists are spread too: each node is first for a third of the partitions.
  const heads = new Map<string, number>();
  for (let p = 0; p < t.partitions; p++)
    heads.set(t.replicasOf(p)[0]!, (heads.get(t.replicasOf(p)[0]!) ?? 0) + 1);
  for (const id of ids(3)) assert.ok(Math.abs(heads.get(id)! - 256 / 3) < 1);
});

test('topology: fewer members than RF caps the replicas at N (every member holds everything)', () => {
  for (const n of [1, 2]) {
    const t = Topology.create({ members: ids(n), replicationFactor: 3 });
    assert.equal(t.replicationFactor, 3);
    assert.equal(t.replicas, n);
    assert.equal(t.quorum(), quorumOf(n));
    for (const id of ids(n)) assert.equal(t.ownedBy(id).length, 256);
  }
});

test('topology: a join or a leave moves only the replicas the balance needs', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), partitionsArb, rfArb, (n, partitions, rf) => {
      const before = Topology.create({ members: ids(n), partitions, replicationFactor: rf });
      const joined = before.withMembers(ids(n + 1));
      checkInvariants(joined);
      checkHeads(joined);
      assert.equal(joined.epoch, before.epoch + 1);
      // The newcomer must receive its share; nothing else may move.
      assert.equal(replicasMoved(lists(before), lists(joined)), joined.ownedBy(`n${n + 1}`).length);
      const left = joined.withMembers(ids(n + 1).filter((id) => id !== 'n1'));
      checkInvariants(left);
      // A leave re-homes the leaver's replicas (unless the replicas per partition shrink with N), plus at
      // most one per member to even out the rounding.
      const leaver = joined.ownedBy('n1').length;
      const moved = replicasMoved(lists(joined), lists(left));
      if (left.replicas === joined.replicas) assert.ok(moved >= leaver, `moved ${moved} < ${leaver}`);
      assert.ok(moved <= leaver + n, `moved ${moved}, leaver held ${leaver}`);
    }),
    { numRuns: 200 },
  );
});

test('topology: measured moves, 4th node joining 3 and 6th joining 5 (RF 3, P 256)', (t) => {
  const three = Topology.create({ members: ids(3) });
  const four = three.withMembers(ids(4));
  assert.equal(replicasMoved(lists(three), lists(four)), 192); // the newcomer's 256 x 3 / 4
  const five = Topology.create({ members: ids(5) });
  const six = five.withMembers(ids(6));
  assert.equal(replicasMoved(lists(five), lists(six)), 128); // the newcomer's 256 x 3 / 6
  // A fresh claim of the new member list (no previous table) moves more: report it, do not rely on it.
  const freshSix = Topology.create({ members: ids(6) });
  const freshMoved = replicasMoved(lists(five), lists(freshSix));
  assert.ok(freshMoved >= 128 && freshMoved <= 768, `fresh claim moved ${freshMoved}`);
  const back = six.withMembers(ids(5));
  t.diagnostic(
    `replicas moved: 3->4 ${replicasMoved(lists(three), lists(four))}, ` +
      `5->6 ${replicasMoved(lists(five), lists(six))}, 6->5 ${replicasMoved(lists(six), lists(back))}, 5->6 by a fresh claim ${freshMoved}`,
  );
});

test('topology: a partition is one digest subtree; its token range holds exactly its tokens', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 4, max: 12 }),
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
      (leafBits, key) => {
        const partitions = 2 ** Math.min(leafBits, 8);
        const t = Topology.create({ members: ids(5), partitions, leafBits });
        const digest = new DigestTree(leafBits);
        const token = tokenOf(key);
        const p = t.partitionOf(token);
        const { first, end } = t.leavesOf(p, leafBits);
        const leaf = digest.leafOf(token);
        assert.ok(leaf >= first && leaf < end, "the key's digest leaf lies under its partition");
        assert.equal(leaf >>> (leafBits - t.partitionBits), t.digestNodeOf(p).index);
        const range = t.partitionRange(p);
        assert.ok(Buffer.compare(range.start, token) <= 0);
        assert.ok(range.end === undefined || Buffer.compare(token, range.end) < 0);
        assert.deepEqual(t.replicasFor(token), t.replicasForKey(key));
      },
    ),
    { numRuns: 300 },
  );
});

test('topology: shared partitions are the intersection; peers are those sharing any', () => {
  const t = Topology.create({ members: ids(5) });
  for (const a of ids(5)) {
    for (const b of ids(5)) {
      const shared = t.sharedPartitions(a, b);
      const expect = t.ownedBy(a).filter((p) => t.holds(b, p));
      assert.deepEqual(shared, expect);
    }
  }
  assert.deepEqual(t.peersOf('n1'), ['n2', 'n3', 'n4', 'n5']);
  assert.deepEqual(t.ownedBy('nobody'), []);
  assert.deepEqual(partitionRuns([0, 1, 2, 5, 7, 8]), [
    [0, 2],
    [5, 5],
    [7, 8],
  ]);
});

test('topology: bad parameters are refused with the option named', () => {
  const bad: Array<[Parameters<typeof Topology.create>[0], RegExp]> = [
    [{ members: [] }, /at least one member/],
    [{ members: ['a', 'a'] }, /listed twice/],
    [{ members: [''] }, /memberIdBytesMax/],
    [{ members: ['a'], partitions: 100 }, /--partitions: 100 must be a power of two/],
    [{ members: ['a'], partitions: 2 ** 17 }, /partitionsMax/],
    [{ members: ['a'], partitions: 64, leafBits: 5 }, /--leaf-bits 5/],
    [{ members: ['a'], replicationFactor: 0 }, /--replication-factor: 0/],
    [{ members: [{ id: 'a', state: 'gone' as 'normal' }] }, /unknown state "gone"/],
  ];
  for (const [params, message] of bad) {
    assert.throws(
      () => Topology.create(params),
      (e: unknown) => e instanceof ConvergeError && e.code === 'CONFIG_INVALID' && message.test(e.message),
    );
  }
  const t = Topology.create({ members: ['a'] });
  assert.throws(() => t.withMembers(['a', 'b'], 1), /epoch 1 must be above the current 1/);
});

test('topology: states are labels (the claim reads ids only); an explicit assignment is kept as given', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 7 }), partitionsArb, rfArb, fc.nat(), (n, partitions, rf, seed) => {
      const states = ['joining', 'normal', 'leaving'] as const;
      const labelled = ids(n).map((id, i) => ({ id, state: states[(seed + i) % 3]! }));
      const plain = Topology.create({ members: ids(n), partitions, replicationFactor: rf });
      const withStates = Topology.create({ members: labelled, partitions, replicationFactor: rf });
      assert.deepEqual(lists(withStates), lists(plain));
      assert.deepEqual(
        withStates.members.map((m) => m.state),
        labelled.map((m) => m.state),
      );
      const again = Topology.fromAssignment({
        members: labelled,
        partitions,
        replicationFactor: rf,
        epoch: 9,
        lists: lists(plain),
      });
      assert.deepEqual(lists(again), lists(plain));
      assert.equal(again.epoch, 9);
      for (const m of ids(n)) assert.deepEqual(again.ownedBy(m), plain.ownedBy(m));
    }),
    { numRuns: 100 },
  );
  const base = { members: ids(3), partitions: 2, replicationFactor: 2 };
  const bad: Array<[string[][], RegExp]> = [
    [[['n1', 'n2']], /1 preference lists for 2 partitions/],
    [
      [
        ['n1', 'n1'],
        ['n1', 'n2'],
      ],
      /partition 0 must list 2 distinct replicas/,
    ],
    [
      [
        ['n1', 'n2'],
        ['n1', 'n9'],
      ],
      /partition 1 names n9, who is not a member/,
    ],
  ];
  for (const [l, message] of bad) {
    assert.throws(
      () => Topology.fromAssignment({ ...base, lists: l }),
      (e: unknown) => e instanceof ConvergeError && e.code === 'CONFIG_INVALID' && message.test(e.message),
    );
  }
});

test('topology: the ring comparison names the mismatch', () => {
  const base = describeTopology(Topology.create({ members: ids(3) }));
  assert.equal(compareRings(base, base, 'n2'), null);
  const cases: Array<[Parameters<typeof Topology.create>[0], string, RegExp]> = [
    [{ members: ids(3), partitions: 128 }, 'partitions', /--partitions 128, this node 256/],
    [{ members: ids(3), replicationFactor: 2 }, 'replicationFactor', /--replication-factor 2, this node 3/],
    [{ members: ids(4) }, 'members', /only the peer lists n4/],
    [{ members: ['n1', 'n2', 'n9'] }, 'members', /only the peer lists n9; only this node lists n3/],
    [{ members: ids(3), epoch: 7 }, 'epoch', /epoch 7, this node at 1/],
  ];
  for (const [params, field, message] of cases) {
    const m = compareRings(base, describeTopology(Topology.create(params)), 'n2');
    assert.ok(m !== null && m.field === field && message.test(m.message), JSON.stringify(m));
    const e = ringMismatchError(m);
    assert.equal(e.code, 'RING_MISMATCH');
    assert.equal(e.httpStatus, 409);
  }
  const forged = { ...base, fingerprint: '0'.repeat(16) };
  assert.equal(compareRings(base, forged, 'n2')?.field, 'fingerprint');
});

test('topology: LiveTopology tells listeners of a newer epoch only, until they unsubscribe', () => {
  const one = Topology.create({ members: ids(3) });
  const live = new LiveTopology(one);
  const seen: Array<[number, number]> = [];
  const off = live.subscribe((next, previous) => seen.push([previous.epoch, next.epoch]));
  const two = one.withMembers(ids(4));
  assert.equal(live.advance(two), true);
  assert.equal(live.advance(one), false);
  assert.equal(live.current, two);
  off();
  assert.equal(live.advance(two.withMembers(ids(5))), true);
  assert.deepEqual(seen, [[1, 2]]);
});

test('topology: a partition watermark is the minimum over pairs of its replicas only', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (n, rf, seed) => {
      const t = Topology.create({ members: ids(n), partitions: 16, replicationFactor: rf });
      const time = (a: string, b: string): number =>
        ((seed + a.charCodeAt(1) * 31 + b.charCodeAt(1) * 31) % 1000) + 1;
      const pair = (a: string, b: string): number => (a < b ? time(a, b) : time(b, a));
      for (const { partition, watermarkMs } of ownedWatermarksMs(t, 'n1', pair)) {
        const r = t.replicasOf(partition);
        const pairs = r.flatMap((a, i) => r.slice(i + 1).map((b) => pair(a, b)));
        assert.equal(watermarkMs, pairs.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...pairs));
      }
      // A member outside a partition never holds it back, even if it never completed a session.
      const outsider = t.members.map((m) => m.id).find((id) => !t.holds(id, 0));
      if (outsider !== undefined) {
        const never = (a: string, b: string): number | null =>
          a === outsider || b === outsider ? null : pair(a, b);
        assert.notEqual(partitionWatermarkMs(t, 0, never), null);
      }
    }),
    { numRuns: 100 },
  );
});

test("topology: a peer's ring description survives JSON and malformed ones are refused clearly", () => {
  const d = describeTopology(Topology.create({ members: ids(4), replicationFactor: 2 }));
  const back = parseRingDescription(JSON.parse(JSON.stringify(d)));
  assert.deepEqual(back, d);
  assert.equal(compareRings(d, back, 'n2'), null);
  const bad: unknown[] = [
    null,
    'x',
    { ...d, epoch: -1 },
    { ...d, partitions: 1.5 },
    { ...d, fingerprint: 'zz' },
    { ...d, members: 'n1' },
    { ...d, members: [{ id: '', state: 'normal' }] },
    { ...d, members: [{ id: 'n1', state: 'gone' }] },
  ];
  for (const b of bad) {
    assert.throws(
      () => parseRingDescription(b),
      (e: unknown) =>
        e instanceof ConvergeError && e.code === 'PROTOCOL_INVALID' && /^ring description: /.test(e.message),
    );
  }
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      try {
        parseRingDescription(v);
      } catch (e) {
        assert.ok(e instanceof ConvergeError && e.code === 'PROTOCOL_INVALID');
      }
    }),
  );
});
