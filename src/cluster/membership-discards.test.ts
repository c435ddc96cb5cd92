// A member's own list of copies to remove after a change (membership-discards.ts): which partitions an
// ended or advanced change leaves it, the stored form and its refusals, and what is kept when it falls due.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { beginJoin, cancelChange, createMembership, type MembershipState } from '../core/membership.js';
import { Topology } from '../core/topology.js';
import {
  decodeDiscards,
  encodeDiscards,
  holdsPartition,
  leftToDiscard,
  MembershipDiscards,
  type PendingDiscard,
} from './membership-discards.js';

const settled = createMembership(Topology.create({ members: ['n1', 'n2', 'n3'], partitions: 16 }));
const joining = beginJoin(settled, 'n4');
const cancelled = cancelChange(joining);
const gainedByN4 = joining.change!.moves.filter((m) => m.to.includes('n4')).map((m) => m.partition);

/** The join with every move cleaned (a later epoch of the same change). */
function allCleaned(s: MembershipState): MembershipState {
  const change = s.change!;
  return {
    ...s,
    epoch: s.epoch + 1,
    change: { ...change, moves: change.moves.map((m) => ({ ...m, state: 'cleaned' })) },
  };
}

test('a cancel leaves the would-be new owner its partial copies; old owners keep theirs', () => {
  const n4 = leftToDiscard('n4', joining, cancelled);
  assert.deepEqual(
    n4.map((d) => d.partition),
    gainedByN4,
  );
  assert.ok(n4.every((d) => d.reason === 'discard' && d.epoch === joining.change!.sinceEpoch));
  assert.deepEqual(leftToDiscard('n4', settled, joining), [], 'a change that begins leaves nothing');
  assert.deepEqual(leftToDiscard('n4', joining, joining), [], 'nor one still running');
  // After the cancel n4 holds none of them; the old owners hold theirs (kept when due).
  for (const p of gainedByN4) assert.equal(holdsPartition(cancelled, 'n4', p), false);
  const oldOwner = joining.change!.moves[0]!.from[0]!;
  assert.equal(holdsPartition(cancelled, oldOwner, joining.change!.moves[0]!.partition), true);
});

test('an old owner that missed its cleanup gets the partitions moved away from it once they are cleaned', () => {
  const cleaned = allCleaned(joining);
  const lostBy = (id: string) =>
    joining.change!.moves.filter((m) => m.from.includes(id) && !m.to.includes(id)).map((m) => m.partition);
  for (const id of ['n1', 'n2', 'n3']) {
    const left = leftToDiscard(id, joining, cleaned);
    assert.deepEqual(
      left.map((d) => d.partition),
      lostBy(id),
      id,
    );
    assert.ok(left.every((d) => d.reason === 'cleanup'));
  }
  assert.deepEqual(leftToDiscard('n1', cleaned, cleaned), [], 'already cleaned: nothing more');
});

test('the stored list round-trips; a bad one is refused with MEMBERSHIP_INVALID', () => {
  const list: PendingDiscard[] = [
    { partition: 3, epoch: 2, dueMs: 1000, reason: 'discard' },
    { partition: 7, epoch: 2, dueMs: 2000, reason: 'cleanup' },
  ];
  assert.deepEqual(decodeDiscards(encodeDiscards(list)), list);
  const bad = [
    'nope',
    '{"format":2,"discards":[]}',
    '{"format":1,"discards":[[1,2,3]]}',
    '{"format":1,"discards":[[1,2,3,5]]}',
  ];
  for (const text of bad) {
    assert.throws(
      () => decodeDiscards(new TextEncoder().encode(text)),
      (err: unknown) => err instanceof ConvergeError && err.code === 'MEMBERSHIP_INVALID',
      text,
    );
  }
});

test('due entries are removed unless the node holds the partition again; the rest wait; the list is stored', async () => {
  const meta = new Map<string, Uint8Array>();
  let now = 1000;
  let state: MembershipState = joining;
  const drops: Array<[number[], string]> = [];
  const options = {
    self: 'n4',
    meta: {
      getMeta: (k: string) => meta.get(k),
      putMeta: async (k: string, v: Uint8Array) => void meta.set(k, v),
    },
    clock: { now: () => now },
    timers: { sleep: async () => undefined } as never,
    graceMs: 500,
    current: () => state,
    drop: async (partitions: number[], reason: string) => {
      drops.push([partitions, reason]);
      return partitions.length;
    },
  };
  const d = new MembershipDiscards(options);
  await d.changeEnding(joining, cancelled);
  state = cancelled;
  assert.equal(d.pending().length, gainedByN4.length);
  assert.equal(await d.tick(), 0, 'nothing before the grace');
  // A restart reads the list back.
  const again = new MembershipDiscards(options);
  assert.equal(again.pending().length, gainedByN4.length);
  now += 500;
  // n4 joins again meanwhile: what it receives again is kept (only forgotten).
  state = beginJoin(cancelled, 'n4');
  assert.equal(await again.tick(), 0);
  assert.deepEqual(drops, []);
  assert.equal(new MembershipDiscards(options).pending().length, 0, 'the stored list emptied');
});

test('after the grace the copies of a cancelled change are dropped, grouped by reason', async () => {
  const meta = new Map<string, Uint8Array>();
  let now = 0;
  const drops: Array<[number[], string]> = [];
  const d = new MembershipDiscards({
    self: 'n4',
    meta: { getMeta: (k) => meta.get(k), putMeta: async (k, v) => void meta.set(k, v) },
    clock: { now: () => now },
    timers: { sleep: async () => undefined } as never,
    graceMs: 100,
    current: () => cancelled,
    drop: async (partitions, reason) => {
      drops.push([partitions, reason]);
      return partitions.length;
    },
  });
  await d.changeEnding(joining, cancelled);
  await d.changeEnding(joining, cancelled);
  assert.equal(d.pending().length, gainedByN4.length, 'the same change is recorded once');
  now = 100;
  assert.equal(await d.tick(), gainedByN4.length);
  assert.deepEqual(drops, [[gainedByN4, 'discard']]);
  assert.equal(d.pending().length, 0);
});
