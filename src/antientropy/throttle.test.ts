import assert from 'node:assert/strict';
import { test } from 'node:test';
import { burstSeconds, TokenBucket } from './throttle.js';
import { steppedTime } from './time-test-helpers.js';

test('the token bucket makes callers wait in proportion to what they spend over the rate', async () => {
  const { clock, timers, waits } = steppedTime();
  const bucket = new TokenBucket({ recordsPerSecondMax: 1000, bytesPerSecondMax: 1e9 }, clock, timers);
  await bucket.take(1000 * burstSeconds, 0); // the burst is free
  assert.deepEqual(waits, []);
  await bucket.take(500, 0);
  assert.deepEqual(waits, [500]);
  bucket.set({ recordsPerSecondMax: 100 });
  await bucket.take(100, 0);
  assert.equal(waits.length, 2);
  assert.ok(waits[1]! >= 990 && waits[1]! <= 1010, `waited ${waits[1]} ms for 100 records at 100/s`);
  await bucket.take(0, 2e9);
  assert.ok(waits[2]! >= 1000, 'bytes are limited too');
});

test('concurrent takers queue behind each other: together they keep to the rate', async () => {
  let now = 0;
  const sleepers: Array<{ until: number; wake: () => void }> = [];
  const clock = { now: () => now };
  const timers = {
    sleep: (ms: number) => new Promise<void>((wake) => sleepers.push({ until: now + ms, wake })),
    schedule: () => () => {},
  };
  const bucket = new TokenBucket({ recordsPerSecondMax: 1000, bytesPerSecondMax: 1e9 }, clock, timers);
  await bucket.take(1000 * burstSeconds, 0); // the burst
  const done: number[] = [];
  // Four batches of 250 taken at once, as a session with batches in flight does.
  const takes = Array.from({ length: 4 }, () => bucket.take(250, 0).then(() => done.push(now)));
  await Promise.resolve();
  while (sleepers.length > 0) {
    sleepers.sort((a, b) => a.until - b.until);
    const next = sleepers.shift()!;
    now = next.until;
    next.wake();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(takes);
  assert.deepEqual(done, [250, 500, 750, 1000], '1,000 records past the burst take one second at 1,000/s');
});

test('a new rate applies at once: waits queued at the old rate do not hold back later takers', async () => {
  const now = 0;
  const sleeps: number[] = [];
  const clock = { now: () => now };
  const timers = {
    sleep: (ms: number) => {
      sleeps.push(ms);
      return new Promise<void>(() => {}); // never due in this test
    },
    schedule: () => () => {},
  };
  const bucket = new TokenBucket({ recordsPerSecondMax: 20, bytesPerSecondMax: 1e9 }, clock, timers);
  // A slow session's batch: owed for about 12 s at 20 records/s (and then cancelled).
  void bucket.take(250, 0);
  await Promise.resolve();
  assert.ok(sleeps[0]! > 12_000, `the batch waits ${sleeps[0]} ms`);
  bucket.set({ recordsPerSecondMax: 50_000 });
  void bucket.take(250, 0);
  await Promise.resolve();
  assert.ok(sleeps[1]! < 10, `the next batch waits ${sleeps[1]} ms at 50,000 records/s`);
});
