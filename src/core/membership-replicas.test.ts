// The read and write sets during a change, checked against a model of the replicas' contents: random quorum
// writes (some replicas missing each), anti-entropy between pairs, crashes, digest snapshots taken at one
// moment and used later (as a node measures, then acts), and the change's steps. The property: when a
// partition moves, every write acknowledged at quorum is on a quorum of its final owners.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConvergeError } from './errors.js';
import { tokenOf } from './hash.js';
import {
  beginDecommission,
  beginJoin,
  beginReplace,
  createMembership,
  type MembershipState,
  type MoveState,
} from './membership.js';
import { droppedBy, markCleaned, markStreamed, moveOwnership } from './membership-moves.js';
import {
  countingReplicasFor,
  levelMet,
  readReplicasFor,
  replicaSetsOf,
  writeReplicasFor,
} from './membership-replicas.js';
import { quorumOf, Topology } from './topology.js';

const partitions = 4;
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

interface Snapshot {
  readonly digests: Map<string, string>;
  readonly takenWhen: MoveState;
}

interface Model {
  s: MembershipState;
  /** Per partition, the write ids each member holds. */
  readonly holds: Array<Map<string, Set<number>>>;
  readonly acked: Array<{ id: number; partition: number }>;
  readonly snapshots: Array<Snapshot | undefined>;
  down: string | null;
  readonly dead: string | null;
  nextId: number;
  /** false: count the old owners alone until the move (what the joint quorum prevents). */
  readonly joint: boolean;
  violations: string[];
}

type Op =
  | { op: 'write'; p: number; fail: number }
  | { op: 'sync'; p: number; a: number; b: number }
  | { op: 'round'; p: number }
  | { op: 'snapshot'; p: number }
  | { op: 'advance'; p: number }
  | { op: 'down'; who: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('write' as const), p: fc.nat(partitions - 1), fail: fc.nat(63) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('sync' as const),
      p: fc.nat(partitions - 1),
      a: fc.nat(7),
      b: fc.nat(7),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('round' as const), p: fc.nat(partitions - 1) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('snapshot' as const), p: fc.nat(partitions - 1) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), p: fc.nat(partitions - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('down' as const), who: fc.nat(8) }) },
);

const isUp = (m: Model, id: string): boolean => id !== m.dead && id !== m.down;
const holding = (m: Model, p: number, id: string): Set<number> => {
  const map = m.holds[p]!;
  if (!map.has(id)) map.set(id, new Set());
  return map.get(id)!;
};

function write(m: Model, p: number, fail: number): void {
  const sets = replicaSetsOf(m.s, p);
  const id = m.nextId++;
  const received = new Set(sets.write.filter((r, i) => isUp(m, r) && ((fail >> i) & 1) === 0));
  for (const r of received) holding(m, p, r).add(id);
  const move = m.s.change?.moves.find((x) => x.partition === p);
  // The control model counts the old owners alone while streamed: the first group only.
  const counting = !m.joint && move?.state === 'streamed' ? sets.counting.slice(0, 1) : sets.counting;
  if (levelMet(counting, received, 'quorum')) m.acked.push({ id, partition: p });
}

function sync(m: Model, p: number, a: string, b: string): void {
  if (!isUp(m, a) || !isUp(m, b)) return;
  const both = new Set([...holding(m, p, a), ...holding(m, p, b)]);
  m.holds[p]!.set(a, new Set(both));
  m.holds[p]!.set(b, new Set(both));
}

function digests(m: Model, p: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const { id } of m.s.members) {
    if (isUp(m, id)) out.set(id, [...holding(m, p, id)].sort((x, y) => x - y).join(','));
  }
  return out;
}

/** Every acknowledged write of the partition is on a quorum of the owners it moves to. */
function checkMoved(m: Model, p: number, to: readonly string[]): void {
  for (const w of m.acked.filter((x) => x.partition === p)) {
    const on = to.filter((id) => holding(m, p, id).has(w.id)).length;
    if (on < quorumOf(to.length))
      m.violations.push(`write ${w.id} on ${on} of [${to}] after partition ${p} moved`);
  }
}

function advance(m: Model, p: number, nowMs: number): void {
  const move = m.s.change?.moves.find((x) => x.partition === p);
  const snap = m.snapshots[p];
  try {
    if (move?.state === 'pending' && snap !== undefined) m.s = markStreamed(m.s, p, snap.digests);
    else if (move?.state === 'streamed' && snap?.takenWhen === 'streamed') {
      m.s = moveOwnership(m.s, p, snap.digests, nowMs);
      checkMoved(m, p, move.to);
    } else if (move?.state === 'moved') {
      for (const id of droppedBy(move, m.s.change!)) m.holds[p]!.delete(id);
      m.s = markCleaned(m.s, p, nowMs, 0);
    }
  } catch (e) {
    if (!(e instanceof ConvergeError && e.code === 'RANGE_NOT_STREAMED')) throw e;
  }
}

function step(m: Model, o: Op, nowMs: number): void {
  const everyone = m.s.members.map((x) => x.id);
  if (o.op === 'write') write(m, o.p, o.fail);
  if (o.op === 'sync') {
    // Anti-entropy runs between the replicas of a partition: the members its writes go to.
    const replicas = replicaSetsOf(m.s, o.p).write;
    sync(m, o.p, replicas[o.a % replicas.length]!, replicas[o.b % replicas.length]!);
  }
  if (o.op === 'round') {
    // A full round of sessions: every up replica of the partition ends with what any of them held.
    const replicas = replicaSetsOf(m.s, o.p).write;
    for (const a of replicas) for (const b of replicas) sync(m, o.p, a, b);
  }
  if (o.op === 'snapshot') {
    const move = m.s.change?.moves.find((x) => x.partition === o.p);
    if (move !== undefined) m.snapshots[o.p] = { digests: digests(m, o.p), takenWhen: move.state };
  }
  if (o.op === 'advance') advance(m, o.p, nowMs);
  if (o.op === 'down') m.down = o.who < everyone.length ? everyone[o.who]! : null;
}

type Kind = 'join' | 'decommission' | 'replace';

function run(n: number, kind: Kind, pre: number[], ops: Op[], joint: boolean): Model {
  const ring = Topology.create({ members: ids(n), partitions, replicationFactor: 3 });
  const m: Model = {
    s: createMembership(ring),
    holds: Array.from({ length: partitions }, () => new Map()),
    acked: [],
    snapshots: [],
    down: null,
    dead: kind === 'replace' ? 'n1' : null,
    nextId: 0,
    joint,
    violations: [],
  };
  // Writes before the change (a replace's dead member still alive then), one replica missing some.
  const before = { ...m, dead: null };
  for (const [i, fail] of pre.entries()) write(before, i % partitions, fail);
  m.nextId = before.nextId;
  m.s =
    kind === 'join'
      ? beginJoin(m.s, `n${n + 1}`)
      : kind === 'decommission'
        ? beginDecommission(m.s, 'n2')
        : beginReplace(m.s, 'n1', 'x1');
  for (const [i, o] of ops.entries()) step(m, o, i);
  return m;
}

const scenario = fc.record({
  n: fc.integer({ min: 3, max: 5 }),
  kind: fc.constantFrom<Kind>('join', 'decommission', 'replace'),
  pre: fc.array(fc.constantFrom(0, 1, 2, 4), { minLength: 4, maxLength: 12 }),
  ops: fc.array(opArb, { minLength: 40, maxLength: 160 }),
});

test('membership replicas: no quorum write misses a quorum of the final owners when a partition moves', (t) => {
  let moves = 0;
  fc.assert(
    fc.property(scenario, ({ n, kind, pre, ops }) => {
      const m = run(n, kind, pre, ops, true);
      moves += (m.s.change?.moves ?? []).filter((x) => x.state === 'moved' || x.state === 'cleaned').length;
      assert.deepEqual(m.violations, []);
    }),
    { numRuns: 400 },
  );
  t.diagnostic(`partitions moved over the runs: ${moves}`);
  assert.ok(moves > 40, `the runs moved only ${moves} partitions: the property was barely exercised`);
});

test('membership replicas: without the joint quorum while streamed, the model finds a lost write', (t) => {
  const result = fc.check(
    fc.property(scenario, ({ n, kind, pre, ops }) => run(n, kind, pre, ops, false).violations.length === 0),
    { numRuns: 2000, seed: 20 },
  );
  t.diagnostic(`control: lost write found after ${result.numRuns} runs`);
  assert.equal(result.failed, true, 'the control model must fail: otherwise the property test has no teeth');
  // A lost write, not a crash of the model: the counterexample replays to a named violation.
  const [{ n, kind, pre, ops }] = result.counterexample!;
  assert.match(
    run(n, kind, pre, ops, false).violations[0] ?? '',
    /write \d+ on \d+ of \[.*\] after partition/,
  );
});

test('membership replicas: reads and counting within writes, the dead member in no set, per key', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 6 }),
      fc.constantFrom<Kind>('join', 'decommission', 'replace'),
      fc.array(fc.nat(3), { minLength: 64, maxLength: 64 }),
      fc.uint8Array({ minLength: 1, maxLength: 12 }),
      (n, kind, states, key) => {
        const ring = Topology.create({ members: ids(n), partitions: 64, replicationFactor: 3 });
        const s0 = createMembership(ring);
        let s =
          kind === 'join'
            ? beginJoin(s0, 'new')
            : kind === 'decommission'
              ? beginDecommission(s0, 'n1')
              : beginReplace(s0, 'n1', 'new');
        // Put each move in a random state (the steps themselves are tested elsewhere).
        const all = ['pending', 'streamed', 'moved', 'moved'] as const;
        const moves = s.change!.moves.map((mv, i) => {
          const state = all[states[i % 64]!]!;
          return { ...mv, state, movedAtMs: state === 'moved' ? 1 : null };
        });
        s = { ...s, change: { ...s.change!, moves } };
        const p = ring.partitionOf(tokenOf(key));
        const sets = replicaSetsOf(s, p);
        assert.deepEqual(writeReplicasFor(s, key), sets.write);
        assert.deepEqual(readReplicasFor(s, key), sets.read);
        assert.deepEqual(countingReplicasFor(s, key), sets.counting);
        for (const id of sets.read) assert.ok(sets.write.includes(id));
        for (const g of sets.counting) for (const id of g.members) assert.ok(sets.write.includes(id));
        for (const id of sets.write) assert.ok(sets.watermark.includes(id));
        const move = s.change!.moves.find((mv) => mv.partition === p);
        if (move === undefined) assert.deepEqual(sets.write, ring.replicasOf(p));
        else if (move.state === 'moved') assert.deepEqual(sets.read, move.to);
        else
          assert.deepEqual([...sets.read].sort(), move.from.filter((id) => id !== s.change!.replaced).sort());
        if (kind === 'replace') {
          const everywhere = [
            ...sets.write,
            ...sets.read,
            ...sets.watermark,
            ...sets.counting.flatMap((g) => g.members),
          ];
          assert.ok(!everywhere.includes('n1'), 'the dead member is in no set');
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('membership replicas: with any one member down, every partition still takes quorum writes', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<Kind>('join', 'decommission', 'replace'),
      fc.integer({ min: 4, max: 7 }),
      fc.array(fc.nat(3), { minLength: 32, maxLength: 32 }),
      fc.nat(),
      (kind, n, states, pick) => {
        // RF 3 on at least 3 members before and after the change (below that, 2 replicas need both anyway).
        const ring = Topology.create({ members: ids(n), partitions: 32, replicationFactor: 3 });
        const s0 = createMembership(ring);
        let s =
          kind === 'join'
            ? beginJoin(s0, 'new')
            : kind === 'decommission'
              ? beginDecommission(s0, 'n1')
              : beginReplace(s0, 'n1', 'new');
        const all = ['pending', 'streamed', 'moved', 'cleaned'] as const;
        const moves = s.change!.moves.map((mv, i) => {
          const state = all[states[i % 32]!]!;
          return { ...mv, state, movedAtMs: state === 'moved' || state === 'cleaned' ? 1 : null };
        });
        s = { ...s, change: { ...s.change!, moves } };
        // A replace's dead member is the one down; otherwise any one member.
        const everyone = s.members.map((m) => m.id);
        const down = kind === 'replace' ? 'n1' : everyone[pick % everyone.length]!;
        for (let p = 0; p < 32; p++) {
          const sets = replicaSetsOf(s, p);
          const up = new Set(sets.write.filter((id) => id !== down));
          assert.ok(
            levelMet(sets.counting, up, 'quorum'),
            `partition ${p} with ${down} down: ${JSON.stringify(sets)}`,
          );
        }
      },
    ),
    { numRuns: 300 },
  );
});
