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

test('overlay: keysBetween lists exactly the pending keys in range, in order, under any sets and deletes', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const overlay = new Overlay();
      const model = new Set<string>();
      for (const o of ops) {
        if (o.op === 'set') {
          overlay.set(o.key, entry);
          model.add(o.key);
        } else if (o.op === 'delete') {
          assert.equal(overlay.delete(o.key), model.delete(o.key));
        } else if (o.op === 'clear') {
          overlay.clear();
          model.clear();
        } else {
          const want = [...model]
            .filter((k) => k >= o.lo && (o.inclusive ? k <= o.hi : k < o.hi))
            .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          assert.deepEqual(overlay.keysBetween(o.lo, o.hi, o.inclusive), want);
        }
        assert.equal(overlay.size, model.size);
      }
    }),
    { numRuns: 500 },
  );
});
