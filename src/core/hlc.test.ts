import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compareVersions, HybridLogicalClock, isAheadOfClock } from './hlc.js';

test('isAheadOfClock: exactly the versions more than the bound ahead of the clock', () => {
  fc.assert(
    fc.property(fc.nat(2 ** 40), fc.integer({ min: -1e6, max: 1e6 }), fc.nat(1e6), (now, delta, bound) => {
      assert.equal(isAheadOfClock({ ms: now + delta }, now, bound), delta > bound);
    }),
  );
});

test('HLC: versions only grow while the wall clock stays within the bound, and never run past it', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -2000, max: 2000 }), { minLength: 1, maxLength: 200 }),
      (steps) => {
        let wall = 1_000_000;
        const hlc = new HybridLogicalClock('n1', { now: () => wall }, 5000);
        let last = hlc.now();
        for (const step of steps) {
          wall += step;
          const v = hlc.now();
          assert.ok(!isAheadOfClock(v, wall, 5000), 'a version the peers would refuse');
          if (last.ms <= wall + 5000) assert.equal(compareVersions(v, last), 1);
          last = v;
        }
      },
    ),
  );
});

test('HLC: a clock set back further than the bound (it had run ahead) issues versions from the wall clock', () => {
  let wall = 10_000_000;
  const hlc = new HybridLogicalClock('n1', { now: () => wall }, 5000);
  hlc.now();
  wall -= 3_600_000;
  assert.equal(hlc.now().ms, wall);
  assert.equal(hlc.observe({ ms: wall + 6000, counter: 0, node: 'n2' }), false);
  assert.equal(hlc.observe({ ms: wall + 4000, counter: 0, node: 'n2' }), true);
});
