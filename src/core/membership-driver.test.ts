// The driver run against a small simulated world: replicas as sets of record ids per partition, sessions
// that copy them, crashes, restarts that resume from the last persisted bytes, and cancels. Whatever the
// interruptions, a change ends with every partition exactly on its final owners (or, cancelled, exactly as
// before), and nothing left on a member that no longer owns it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  beginDecommission,
  beginJoin,
  beginReplace,
  createMembership,
  type MembershipState,
} from './membership.js';
import { encodeMembership } from './membership-codec.js';
import {
  type DriverAction,
  type DriverContext,
  type DriverEvent,
  type DriverReport,
  driveChange,
  planChange,
  resumeChange,
} from './membership-driver.js';
import { Topology } from './topology.js';

const partitions = 16;
const graceMs = 50;
type Kind = 'join' | 'decommission' | 'replace';
type Nemesis = 'crash' | 'recover' | 'restart' | 'cancel' | 'lag' | 'none';

interface World {
  state: MembershipState;
  disk: Uint8Array;
  installedEpoch: number;
  nowMs: number;
  down: Set<string>;
  readonly dead: string | null;
  /** Per partition: member → record ids held. */
  readonly holds: Array<Map<string, Set<number>>>;
  readonly queue: DriverEvent[];
  cancelled: boolean;
  /** Deliver a turn's reports as one `reports` event (one epoch), as a node batching per tick would. */
  readonly batched: boolean;
}

const ctxOf = (w: World): DriverContext => ({
  nowMs: w.nowMs,
  graceMs,
  down: new Set([...w.down, ...(w.dead === null ? [] : [w.dead])]),
  installedEpoch: w.installedEpoch,
});

const held = (w: World, p: number, id: string): Set<number> => {
  if (!w.holds[p]!.has(id)) w.holds[p]!.set(id, new Set());
  return w.holds[p]!.get(id)!;
};

function report(w: World, partition: number, members: readonly string[]): void {
  const digests = new Map(members.map((id) => [id, [...held(w, partition, id)].sort().join()]));
  w.queue.push({ kind: 'digests', partition, digests });
}

function perform(w: World, a: DriverAction): void {
  switch (a.kind) {
    case 'persist':
      w.disk = encodeMembership(w.state);
      return;
    case 'stream':
      for (const to of a.to)
        for (const from of a.from)
          for (const r of held(w, a.partition, from)) held(w, a.partition, to).add(r);
      report(w, a.partition, [...a.from, ...a.to]);
      return;
    case 'verify':
      report(w, a.partition, a.members);
      return;
    case 'drop':
      for (const id of a.members) w.holds[a.partition]!.delete(id);
      w.queue.push({ kind: 'dropped', partition: a.partition });
      return;
    case 'discard':
      for (const id of a.members) w.holds[a.partition]!.delete(id);
      return;
    case 'wait':
      w.nowMs = Math.max(w.nowMs, a.untilMs);
      return;
    case 'await-epoch':
    case 'stalled':
      return;
  }
}

function nemesis(w: World, n: Nemesis, pick: number): DriverEvent {
  const ids = w.state.members.map((m) => m.id).filter((id) => id !== w.dead);
  if (n === 'crash') w.down = new Set([ids[pick % ids.length]!]);
  if (n === 'recover') w.down.clear();
  if (n === 'lag') w.installedEpoch = Math.max(0, w.installedEpoch - 1);
  if (n === 'restart') {
    // Only the persisted bytes survive: the queue of reports in flight is lost with the process.
    w.queue.length = 0;
    w.state = resumeChange(w.disk, ctxOf(w)).state;
  }
  if (n === 'cancel') return { kind: 'cancel' };
  return nextEvent(w);
}

function setUp(kind: Kind, n: number, batched = false): World {
  const ring = Topology.create({ members: Array.from({ length: n }, (_, i) => `n${i + 1}`), partitions });
  const s0 = createMembership(ring);
  const state =
    kind === 'join'
      ? beginJoin(s0, 'new')
      : kind === 'decommission'
        ? beginDecommission(s0, 'n2')
        : beginReplace(s0, 'n1', 'new');
  const holds = Array.from(
    { length: partitions },
    (_, p) => new Map(ring.replicasOf(p).map((id) => [id, new Set([p * 10, p * 10 + 1])])),
  );
  return {
    state,
    disk: encodeMembership(state),
    installedEpoch: state.epoch,
    nowMs: 0,
    down: new Set(),
    dead: kind === 'replace' ? 'n1' : null,
    holds,
    queue: [],
    cancelled: false,
    batched,
  };
}

/** The next event: a queued report (or all of them, batched), else a tick. */
function nextEvent(w: World): DriverEvent {
  if (w.queue.length === 0) return { kind: 'tick' };
  if (!w.batched) return w.queue.shift()!;
  const reports = w.queue
    .splice(0)
    .filter((e): e is DriverReport => e.kind === 'digests' || e.kind === 'dropped');
  return { kind: 'reports', reports };
}

function turn(w: World, event: DriverEvent): void {
  const step = driveChange(w.state, event, ctxOf(w));
  if (event.kind === 'cancel' && step.refused === null) w.cancelled = true;
  w.state = step.state;
  // Like a node: the state is persisted at once; the plan is carried out on ticks only (not once per report).
  for (const a of step.actions)
    if (event.kind === 'tick' || a.kind === 'persist' || a.kind === 'discard') perform(w, a);
  // Members install the new epoch one turn later (spreading takes a while).
  w.installedEpoch = w.state.epoch;
  w.nowMs += 1;
}

test('membership driver: every change ends on its final owners, whatever crashes, restarts and cancels', (t) => {
  const ends = { cancelled: 0, finished: 0, batchedFinished: 0 };
  const nemeses = fc.constantFrom<Nemesis>(
    'crash',
    'recover',
    'restart',
    'cancel',
    'lag',
    'none',
    'none',
    'none',
  );
  fc.assert(
    fc.property(
      fc.constantFrom<Kind>('join', 'decommission', 'replace'),
      fc.integer({ min: 3, max: 6 }),
      fc.array(fc.tuple(nemeses, fc.nat()), { maxLength: 300 }),
      fc.boolean(),
      (kind, n, faults, batched) => {
        const w = setUp(kind, n, batched);
        const before = w.state.ring;
        for (const [f, pick] of faults) if (w.state.change !== null) turn(w, nemesis(w, f, pick));
        w.down.clear();
        for (let i = 0; i < 2000 && w.state.change !== null; i++) turn(w, nextEvent(w));
        assert.equal(w.state.change, null, 'the change ends once its members are up');
        const ring = w.state.ring;
        assert.ok(ring.members.every((m) => m.state === 'normal'));
        if (w.cancelled) assert.deepEqual(lists(ring), lists(before));
        ends[w.cancelled ? 'cancelled' : 'finished'] += 1;
        if (batched && !w.cancelled) ends.batchedFinished += 1;
        for (let p = 0; p < partitions; p++) {
          // A cancelled replace leaves the dead member in the ring, as it was; it holds nothing readable.
          const owners = ring
            .replicasOf(p)
            .filter((id) => id !== w.dead)
            .sort();
          const holders = [...w.holds[p]!].filter(([id, r]) => r.size > 0 && id !== w.dead).map(([id]) => id);
          assert.deepEqual(holders.sort(), owners, `partition ${p}: held exactly by its owners`);
          for (const id of owners) assert.deepEqual([...held(w, p, id)].sort(), [p * 10, p * 10 + 1]);
        }
      },
    ),
    { numRuns: 150, includeErrorInReport: true },
  );
  t.diagnostic(
    `changes finished ${ends.finished} (${ends.batchedFinished} batched), cancelled ${ends.cancelled}`,
  );
  assert.ok(ends.batchedFinished > 5 && ends.finished > 10 && ends.cancelled > 10, JSON.stringify(ends));
});

const lists = (t: Topology): string[][] =>
  Array.from({ length: t.partitions }, (_, p) => [...t.replicasOf(p)]);

test('membership driver: a restart plans exactly what the running driver would', () => {
  const w = setUp('join', 4);
  for (let i = 0; i < 40; i++) {
    turn(w, nextEvent(w));
    const resumed = resumeChange(encodeMembership(w.state), ctxOf(w));
    assert.deepEqual(resumed.actions, planChange(w.state, ctxOf(w)));
  }
});

test('membership driver: it names what blocks a partition, and refuses a late cancel', () => {
  const w = setUp('join', 3);
  const stalled = planChange(w.state, { ...ctxOf(w), down: new Set(['new']) });
  assert.ok(stalled.every((a) => a.kind === 'stalled' && /new owner new is down/.test(a.reason)));
  const twoDown = planChange(w.state, { ...ctxOf(w), down: new Set(['n1', 'n2']) });
  assert.ok(twoDown.some((a) => a.kind === 'stalled' && /1 of the 2 sources needed are up/.test(a.reason)));
  const behind = planChange(w.state, { ...ctxOf(w), installedEpoch: w.state.epoch - 1 });
  assert.deepEqual(behind[0], { kind: 'await-epoch', epoch: w.state.epoch });
  // Run until a partition has moved, then a cancel is refused with its code, the state unchanged.
  for (let i = 0; i < 100 && !w.state.change!.moves.some((m) => m.state === 'moved'); i++) {
    turn(w, nextEvent(w));
  }
  const step = driveChange(w.state, { kind: 'cancel' }, ctxOf(w));
  assert.equal(step.refused?.code, 'CHANGE_NOT_CANCELLABLE');
  assert.equal(step.state, w.state);
});

test('membership driver: batched reports move many partitions in one epoch', () => {
  const w = setUp('join', 3, true);
  const start = w.state.epoch;
  turn(w, { kind: 'tick' }); // every pending partition streams and reports
  const moves = w.state.change!.moves.length;
  turn(w, nextEvent(w)); // one batch: every partition streamed, one epoch
  assert.equal(w.state.epoch, start + 1);
  assert.ok(
    w.state.change!.moves.every((m) => m.state === 'streamed'),
    `${moves} partitions streamed`,
  );
  // A batch with one bad report applies the rest and names the refusal.
  const step = driveChange(
    w.state,
    {
      kind: 'reports',
      reports: [
        { kind: 'dropped', partition: w.state.change!.moves[0]!.partition },
        { kind: 'digests', partition: w.state.change!.moves[1]!.partition, digests: new Map([['new', 'x']]) },
      ],
    },
    ctxOf(w),
  );
  assert.equal(step.refused?.code, 'MEMBERSHIP_INVALID');
  assert.match(step.refused!.message, /is streamed; it cannot be cleaned/);
});
