// A verification pass that throws is logged, counted and retried; verification goes on for the life of the
// node instead of stopping at the first storage error.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backgroundFailures, FailureLog, logFailure } from '../core/failures.js';
import { keyToBytes, makeRecord } from '../core/record.js';
import { createMemoryStorage } from '../storage/memory.js';
import { openReplica } from './replica.js';
import { DigestVerifier } from './verify.js';

test('a failing verification pass is logged, counted and retried, and later passes complete', async () => {
  const replica = await openReplica({ id: 'a', storage: createMemoryStorage(), leafBits: 4 });
  await replica.whenDigestReady();
  await replica.apply(
    [makeRecord(keyToBytes('k'), { ms: 1, counter: 0, node: 'a' }, keyToBytes('v'))],
    'client',
  );
  const realVerifyLeaf = replica.verifyLeaf.bind(replica);
  let failuresLeft = 2;
  replica.verifyLeaf = (leaf) => {
    if (leaf === 3 && failuresLeft > 0) {
      failuresLeft -= 1;
      throw new Error('storage read failed');
    }
    return realVerifyLeaf(leaf);
  };
  const logged: Array<Record<string, unknown>> = [];
  const previousLogger = backgroundFailures.logger;
  const noop = (): void => {};
  backgroundFailures.logger = {
    error: noop,
    info: noop,
    debug: noop,
    warn: (fields) => void logged.push(fields),
  };
  const countedBefore = backgroundFailures.count('verification pass');
  const ac = new AbortController();
  const waits: number[] = [];
  const told: unknown[] = [];
  const verifier: DigestVerifier = new DigestVerifier({
    replica,
    clock: { now: () => 0 },
    recordsPerSecondMax: 1e9,
    passIntervalMs: 600_000,
    startDelayMs: 1,
    failedPassRetryMs: 30_000,
    onPassFailed: (err) => told.push(err),
    timers: {
      sleep: async (ms, signal) => {
        waits.push(ms);
        if (verifier.passes === 2) {
          ac.abort();
          throw signal?.reason;
        }
      },
      schedule: () => () => {},
    },
  });
  try {
    await verifier.run(ac.signal);
  } finally {
    backgroundFailures.logger = previousLogger;
  }
  assert.equal(verifier.failedPasses, 2);
  assert.equal(verifier.lastFailure, 'storage read failed');
  assert.equal(verifier.passes, 2, 'verification went on after the failures');
  assert.deepEqual(
    waits,
    [1, 30_000, 30_000, 600_000, 600_000],
    'a failed pass is retried sooner than the interval',
  );
  assert.equal(told.length, 2);
  assert.equal(backgroundFailures.count('verification pass') - countedBefore, 2);
  assert.deepEqual(
    logged.map((f) => [f.what, f.err]),
    [
      ['verification pass', 'storage read failed'],
      ['verification pass', 'storage read failed'],
    ],
  );
});

test('logFailure counts by what failed and logs at the level asked', () => {
  const log = new FailureLog();
  const lines: string[] = [];
  log.logger = {
    error: () => {},
    info: () => {},
    warn: (fields, message) => void lines.push(`warn ${message} ${String(fields.code)}`),
    debug: (fields, message) => void lines.push(`debug ${message} ${String(fields.err)}`),
  };
  logFailure('purge', 'warn', log)(Object.assign(new Error('disk full'), { code: 'DISK_FULL' }));
  logFailure('hint replay', 'debug', log)('peer gone');
  logFailure('purge', 'warn', log)(new Error('again'));
  assert.deepEqual(log.snapshot(), { purge: 2, 'hint replay': 1 });
  assert.equal(log.count(), 3);
  assert.deepEqual(lines, [
    'warn purge failed DISK_FULL',
    'debug hint replay failed peer gone',
    'warn purge failed undefined',
  ]);
});
