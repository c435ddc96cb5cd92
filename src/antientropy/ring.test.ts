// The ring helpers of anti-entropy: session ranges, purge-bound runs, and the per-partition purge bounds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Topology } from '../core/topology.js';
import { openReplica } from '../replica/replica.js';
import { createMemoryStorage } from '../storage/memory.js';
import { boundRuns, describeRange, peerBounds, sessionRange } from './ring.js';
import { AntiEntropyState } from './state.js';
import { Watermark } from './watermark.js';

test('with every partition shared (RF = N) a session has no scope: the whole tree, as before the ring', () => {
  const t = Topology.create({
    members: ['n1', 'n2', 'n3'],
    partitions: 16,
    replicationFactor: 3,
    leafBits: 8,
  });
  const r = sessionRange(t, 'n1', 'n2');
  assert.equal(r.scope, undefined);
  assert.equal(describeRange(r).range, 'all');
  const five = Topology.create({ members: ['a', 'b', 'c', 'd', 'e'], partitions: 16, leafBits: 8 });
  const s = sessionRange(five, 'a', 'b');
  assert.deepEqual(s.scope, { level: 4, indexes: five.sharedPartitions('a', 'b') });
  assert.equal(describeRange(s).partitions, five.sharedPartitions('a', 'b').length);
});

test('bound runs carry every shared partition bound; a peer message gives back exactly the shared ones', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { maxLength: 40 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 64, maxLength: 64 }),
      (parts, bounds) => {
        const shared = [...parts].sort((a, b) => a - b);
        const runs = boundRuns(shared, (p) => bounds[p]!);
        const back = peerBounds({ purgeBoundsMs: runs }, shared);
        assert.deepEqual(
          [...back.keys()].sort((a, b) => a - b),
          shared,
        );
        for (const p of shared) assert.equal(back.get(p), bounds[p]);
        // A bound for a partition that is not shared is never taken from a peer.
        assert.equal(peerBounds({ purgeBoundsMs: [[0, 63, 9]] }, shared).size, shared.length);
        // An older node sends one bound: it holds for every shared partition.
        assert.equal(peerBounds({ purgedBeforeMs: 5 }, shared).size, shared.length);
      },
    ),
  );
});

test('purge bounds only rise; the floor is the lowest bound among the held partitions', async () => {
  const replica = await openReplica({ id: 'n1', storage: createMemoryStorage(), leafBits: 8 });
  const owned = [0, 1, 2, 5];
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.tuple(fc.constantFrom(0, 1, 2, 3, 5), fc.integer({ min: 0, max: 100 }))), {
        maxLength: 8,
      }),
      async (steps) => {
        const state = new AntiEntropyState(replica);
        state.purgedBeforeMs = 0;
        state.partitionPurgedBeforeMs = {};
        const highest = new Map<number, number>();
        for (const step of steps) {
          const before = new Map([0, 1, 2, 3, 5].map((p) => [p, state.boundOf(p)]));
          state.raiseBounds(new Map(step), owned);
          for (const [p, ms] of step) highest.set(p, Math.max(highest.get(p) ?? 0, ms));
          for (const [p, was] of before) assert.ok(state.boundOf(p) >= was, 'never lowered');
          assert.equal(state.purgedBeforeMs, Math.min(...owned.map((p) => state.boundOf(p))));
          for (const p of owned)
            assert.ok(state.boundOf(p) <= Math.max(highest.get(p) ?? 0, state.purgedBeforeMs));
        }
      },
    ),
  );
});

test('the pair time is the earlier of both views; an older peer sending one watermark counts it for each pair', async () => {
  const replica = await openReplica({ id: 'n1', storage: createMemoryStorage(), leafBits: 8 });
  const t = Topology.create({ members: ['n1', 'n2', 'n3'], partitions: 16, leafBits: 8 });
  const state = new AntiEntropyState(replica);
  const w = new Watermark(state, 'n1', () => t, 10);
  state.peer('n2').lastSuccessStartedAtMs = 100;
  state.peer('n3').lastSuccessStartedAtMs = 90;
  assert.equal(w.pairStartMs('n1', 'n2'), null, 'unknown until n2 told its view');
  w.heard('n2', { watermarkMs: 80, pairStartsMs: { n1: 120, n3: 70 } });
  assert.equal(w.pairStartMs('n1', 'n2'), 100, 'the earlier of 100 and 120');
  assert.equal(w.pairStartMs('n2', 'n3'), null, 'n3 has not told');
  w.heard('n3', { watermarkMs: 60 });
  assert.equal(w.pairStartMs('n2', 'n3'), 60, "an older node's watermark stands for each of its pairs");
  assert.equal(w.cluster(), 60);
  assert.deepEqual([...new Set(w.purgeBounds(Number.POSITIVE_INFINITY).values())], [50]);
});
