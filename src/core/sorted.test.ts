import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareBytes, lowerBound, mergeSortedUnique } from './sorted.js';

const sortedKeys = fc.array(fc.string({ maxLength: 3 }), { maxLength: 30 }).map((xs) => xs.sort());

test('sorted: the merge is the sorted set of both arrays; lowerBound finds the first key not below', () => {
  fc.assert(
    fc.property(sortedKeys, sortedKeys, fc.string({ maxLength: 3 }), (a, b, key) => {
      const merged = mergeSortedUnique(a, b);
      assert.deepEqual(merged, [...new Set([...a, ...b])].sort());
      const i = lowerBound(merged, key);
      assert.ok(merged.slice(0, i).every((k) => k < key));
      assert.ok(merged.slice(i).every((k) => k >= key));
    }),
  );
});

test('sorted: compareBytes orders bytes as Buffer.compare does', () => {
  const bytes = fc.uint8Array({ maxLength: 6, max: 3 });
  fc.assert(
    fc.property(bytes, bytes, (a, b) => {
      assert.equal(compareBytes(a, b), Buffer.compare(a, b));
    }),
  );
});
