import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveRate } from './adaptive.js';
import { burstSeconds, TokenBucket } from './throttle.js';
import { steppedTime } from './time-test-helpers.js';

const options = { loopBusyPercentTarget: 60, intervalMs: 200, recordsPerSecondMin: 1000 };

test('adaptive rate: repair starts from the floor, grows while the loop is calm, and the cap is lifted at the throttle', async () => {
  const { clock, timers, advance } = steppedTime();
  const bucket = new TokenBucket({ recordsPerSecondMax: 50_000, bytesPerSecondMax: 1e12 }, clock, timers);
  const rate = new AdaptiveRate(bucket, { busy: () => 0.2 }, clock, timers, options);
  assert.equal(bucket.recordsPerSecond, 1000, 'slow start: a session begins at the floor');
  let intervals = 0;
  while (Number.isFinite(rate.capPerSecond) && intervals < 100) {
    await bucket.take(100, 0); // repair is running
    advance(200);
    rate.tick();
    intervals += 1;
  }
  assert.ok(intervals > 5, `grew step by step (${intervals} intervals)`);
  assert.equal(bucket.recordsPerSecond, 50_000, 'back at the configured throttle');
  assert.equal(rate.backOffs, 0);
});

test('adaptive rate: a busy event loop cuts the rate, never under the floor; a calm one lifts the cap again', async () => {
  const { clock, timers, advance } = steppedTime();
  const bucket = new TokenBucket({ recordsPerSecondMax: 1e6, bytesPerSecondMax: 1e12 }, clock, timers);
  let busy = 0.2;
  const rate = new AdaptiveRate(bucket, { busy: () => busy }, clock, timers, options);
  while (Number.isFinite(rate.capPerSecond)) {
    await bucket.take(4000, 0);
    advance(200);
    rate.tick();
  }
  busy = 0.95;
  // 4,000 records per interval: 20,000 records/s achieved. The load is smoothed: one interval is not enough.
  await bucket.take(4000, 0);
  advance(200);
  rate.tick();
  assert.equal(rate.capPerSecond, Number.POSITIVE_INFINITY, 'one busy interval changes nothing');
  await bucket.take(4000, 0);
  advance(200);
  rate.tick();
  assert.ok(rate.capPerSecond < 20_000, `cut below the achieved rate: ${rate.capPerSecond}`);
  assert.equal(bucket.recordsPerSecond, rate.capPerSecond, 'the bucket runs at the cap');
  for (let i = 0; i < 50; i++) {
    await bucket.take(10, 0);
    advance(200);
    rate.tick();
  }
  assert.equal(rate.capPerSecond, options.recordsPerSecondMin, 'the floor holds however long the load lasts');
  assert.equal(rate.backOffs, 51);
  busy = 0.2;
  for (let i = 0; i < 100 && Number.isFinite(rate.capPerSecond); i++) {
    await bucket.take(10, 0);
    advance(200);
    rate.tick();
  }
  assert.equal(rate.capPerSecond, Number.POSITIVE_INFINITY, 'a calm loop lifts the cap again');
  assert.equal(bucket.current.recordsPerSecondMax, 1e6, 'the configured throttle itself never changed');
});

test('adaptive rate: after a while without repair, the next repair starts from the floor again', async () => {
  const { clock, timers, advance } = steppedTime();
  const bucket = new TokenBucket({ recordsPerSecondMax: 50_000, bytesPerSecondMax: 1e12 }, clock, timers);
  const rate = new AdaptiveRate(bucket, { busy: () => 0.1 }, clock, timers, options);
  while (Number.isFinite(rate.capPerSecond)) {
    await bucket.take(100, 0);
    advance(200);
    rate.tick();
  }
  for (let i = 0; i < 5; i++) {
    advance(200);
    rate.tick();
  }
  assert.equal(bucket.recordsPerSecond, options.recordsPerSecondMin);
});

test('token bucket: a records cap makes callers wait as the capped rate requires', async () => {
  const { clock, timers, waits } = steppedTime();
  const bucket = new TokenBucket({ recordsPerSecondMax: 10_000, bytesPerSecondMax: 1e12 }, clock, timers);
  bucket.setRecordsCap(1000);
  await bucket.take(1000 * burstSeconds, 0); // the burst is burstSeconds at the capped rate
  assert.deepEqual(waits, []);
  await bucket.take(500, 0);
  assert.deepEqual(waits, [500]);
  assert.equal(bucket.recordsTaken, 1000 * burstSeconds + 500);
  bucket.setRecordsCap(Number.POSITIVE_INFINITY);
  assert.equal(bucket.recordsPerSecond, 10_000);
});
