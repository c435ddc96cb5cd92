import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from './throttle.js';

test('the token bucket makes callers wait in proportion to what they spend over the rate', async () => {
  let now = 0;
  const waits: number[] = [];
  const clock = { now: () => now };
  const timers = {
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    schedule: () => () => {},
  };
  const bucket = new TokenBucket({ recordsPerSecondMax: 1000, bytesPerSecondMax: 1e9 }, clock, timers);
  await bucket.take(1000, 0); // the first second's burst is free
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
