import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { sessionFraction } from './session-fraction.js';

const counts = (keysDivergent: number, keysPulled: number, keysPushed = 0) => ({
  keysDivergent,
  keysPulled,
  keysPushed,
});

test('a streaming session whose discovery is resolved is as far as its records pulled of those missing', () => {
  assert.equal(sessionFraction(1, true, counts(400, 100)), 0.25);
  assert.equal(sessionFraction(1, true, counts(400, 400)), 1);
  // Nothing found missing yet: the digest share is all there is to go by.
  assert.equal(sessionFraction(0.5, true, counts(0, 0)), 0.5);
});

test('an ordinary session reports its digest share, whatever it repaired', () => {
  assert.equal(sessionFraction(1, false, counts(400, 100)), 1);
  assert.equal(sessionFraction(0.3, false, counts(400, 0)), 0.3);
});

test('the fraction stays in 0..1 and a streaming one never exceeds the digest share', () => {
  fc.assert(
    fc.property(
      fc.double({ min: -1, max: 2, noNaN: true }),
      fc.boolean(),
      fc.nat(10_000),
      fc.nat(10_000),
      (share, streaming, divergent, pulled) => {
        const f = sessionFraction(share, streaming, counts(divergent, Math.min(pulled, divergent)));
        assert.ok(f >= 0 && f <= 1);
        assert.ok(f <= Math.max(0, Math.min(1, share)));
      },
    ),
  );
});
