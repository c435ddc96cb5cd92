import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Overlay, type OverlayEntry } from './overlay.js';

const entry: OverlayEntry = { token: new Uint8Array(0), record: null };

const opArb = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: fc.string({ maxLength: 3 }) }),
  fc.record({ op: fc.constant('delete' as const), key: fc.string({ maxLength: 3 }) }),
  fc.record({ op: fc.constant('clear' as const) }),
  fc.record({
    op: fc.constant('range' as const),
    lo: fc.string({ maxLength: 3 }),
    hi: fc.string({ maxLength: 3 }),
    inclusive: fc.boolean(),
  }),
);

type Op =
  | { op: 'set'; key: string }
  | { op: 'delete'; key: string }
  | { op: 'clear' }
  | { op: 'range'; lo: string; hi: string; inclusive?: boolean };

/** Applies one operation to the overlay and to a plain set (the model); a range compares their answers. */
function step(overlay: Overlay, model: Set<string>, o: Op): void {
  if (o.op === 'set') {
    overlay.set(o.key, entry);
    model.add(o.key);
  } else if (o.op === 'delete') {
    assert.equal(overlay.delete(o.key), model.delete(o.key));
  } else if (o.op === 'clear') {
    overlay.clear();
    model.clear();
  } else {
    const inclusive = o.inclusive ?? false;
    const want = [...model]
      .filter((k) => k >= o.lo && (inclusive ? k <= o.hi : k < o.hi))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(overlay.keysBetween(o.lo, o.hi, inclusive), want);
  }
  assert.equal(overlay.size, model.size);
}

test('overlay: keysBetween lists exactly the pending keys in range, in order, under any sets and deletes', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const overlay = new Overlay();
      const model = new Set<string>();
      for (const o of ops) step(overlay, model, o);
    }),
    { numRuns: 500 },
  );
});

test('overlay: writes with no scan in between keep the unmerged list bounded, and scans stay exact', () => {
  // Few distinct keys, so that sets and deletes churn the same ones and the unmerged list gets pruned often.
  const keyArb = fc
    .integer({ min: 0, max: 99 })
    .map((i) => String.fromCharCode(97 + (i % 26), 97 + Math.floor(i / 26)));
  const churnArb = fc.oneof(
    { weight: 150, arbitrary: fc.record({ op: fc.constant('set' as const), key: keyArb }) },
    { weight: 150, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('range' as const), lo: keyArb, hi: keyArb }) },
  );
  fc.assert(
    fc.property(fc.array(churnArb, { minLength: 500, maxLength: 3000 }), (ops) => {
      const overlay = new Overlay();
      const model = new Set<string>();
      for (const o of ops) {
        step(overlay, model, o);
        // At most about twice as many as could be pending at once (100 distinct keys), however long it runs.
        assert.ok(overlay.unmerged <= 2 * 100 + 65, `${overlay.unmerged} unmerged keys`);
      }
    }),
    { numRuns: 100 },
  );
  // A bulk load commits as it goes: 100,000 keys set and committed with no scan leave almost nothing behind.
  const overlay = new Overlay();
  for (let i = 0; i < 100_000; i++) {
    overlay.set(`k${i}`, entry);
    if (i >= 10) overlay.delete(`k${i - 10}`);
  }
  assert.ok(overlay.unmerged < 200, `${overlay.unmerged} keys left to merge`);
  const pending = Array.from({ length: 10 }, (_, j) => `k${99_990 + j}`).sort();
  assert.deepEqual(overlay.keysBetween('', '\uffff', false), pending, 'the keys still pending are all found');
});
