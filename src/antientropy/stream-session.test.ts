import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from '../core/digest.js';
import { MemoryReplica } from '../core/memory-reader.js';
import { keyToBytes, makeRecord } from '../core/record.js';
import type { RangeCursor } from '../core/wire-repair.js';
import { answerStreamPage, planChains } from './stream-session.js';

test('chains split the partitions into neighbouring runs, each partition in exactly one, none empty', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.nat(4095), { maxLength: 300 }).map((ps) => ps.sort((a, b) => a - b)),
      fc.integer({ min: 1, max: 64 }),
      (partitions, n) => {
        const chains = planChains(partitions, n);
        assert.deepEqual(
          chains.flatMap((c) => c.partitions),
          partitions,
        );
        assert.ok(chains.length <= Math.max(1, n));
        assert.ok(chains.every((c) => c.partitions.length > 0) || partitions.length === 0);
      },
    ),
  );
});

test('pages cut by records, bytes or time, each resumed from the last cursor, carry every record once in order', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 4000 }), { maxLength: 400 }),
      fc.uniqueArray(fc.nat(63), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1, max: 700 }),
      fc.integer({ min: 1, max: 40_000 }),
      fc.integer({ min: 0, max: 5 }),
      (keys, indexes, recordsMax, bytesMax, busyMsMax) => {
        const source = new MemoryReplica(8);
        source.apply(
          keys.map((k) =>
            makeRecord(keyToBytes(`k${k}`), { ms: 1, counter: 0, node: 's' }, k % 4 ? keyToBytes('v') : null),
          ),
        );
        let ranges = [...new Set(indexes)].sort((a, b) => a - b).map((index) => ({ level: 6, index }));
        const want = ranges.flatMap(({ index }) => {
          const { start, end } = prefixRange(6, index);
          return [...source.scanTokens(start, end)].map((e) => Buffer.from(e.record.key).toString('hex'));
        });
        // A clock that moves 1 ms each time it is read: the time bound cuts pages too.
        let nowMs = 0;
        const got: string[] = [];
        let after: RangeCursor | undefined;
        for (let pages = 0; ranges.length > 0; pages++) {
          assert.ok(pages <= want.length + indexes.length + 1, 'every page makes progress');
          const page = answerStreamPage(
            source,
            { ranges, recordsMax, bytesMax, ...(after === undefined ? {} : { after }) },
            busyMsMax,
            () => nowMs++,
          );
          assert.ok(page.records.length <= recordsMax, 'within the records bound');
          assert.ok(page.processed > 0 || page.next !== undefined, 'progress');
          got.push(...page.records.map((r) => Buffer.from(r.key).toString('hex')));
          ranges = ranges.slice(page.processed);
          after = page.next;
        }
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 200 },
  );
});
