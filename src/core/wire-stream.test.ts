import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConvergeError } from './errors.js';
import { MemoryReplica } from './memory-reader.js';
import { answerRangeFetch } from './reconcile-driver.js';
import { fpEquals, keyToBytes, makeRecord, type VersionedRecord } from './record.js';
import { peekType } from './wire.js';
import { encodeRangeFetchRequest } from './wire-repair.js';
import {
  decodeStreamRequest,
  decodeStreamResponse,
  encodeStreamRequest,
  encodeStreamResponse,
  StreamMessageType,
  type StreamRequest,
  streamPageBytesLimit,
} from './wire-stream.js';

const cursorArb = fc.record({
  token: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  key: fc.uint8Array({ minLength: 1, maxLength: 40 }),
});

const rangeArb = fc
  .integer({ min: 0, max: 32 })
  .chain((level) =>
    fc.record({ level: fc.constant(level), index: fc.integer({ min: 0, max: 2 ** level - 1 }) }),
  );

const requestArb: fc.Arbitrary<StreamRequest> = fc.record(
  {
    ranges: fc.array(rangeArb, { minLength: 1, maxLength: 30 }),
    after: cursorArb,
    recordsMax: fc.integer({ min: 1, max: 65_536 }),
    bytesMax: fc.integer({ min: 1, max: streamPageBytesLimit }),
  },
  { requiredKeys: ['ranges', 'recordsMax', 'bytesMax'] },
);

const recordArb: fc.Arbitrary<VersionedRecord> = fc
  .record({
    key: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    ms: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
    counter: fc.integer({ min: 0, max: 65_535 }),
    node: fc.string({ minLength: 1, maxLength: 12 }),
    value: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
  })
  .map((r) => makeRecord(r.key, { ms: r.ms, counter: r.counter, node: r.node }, r.value));

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

test('stream requests survive encoding, every field as written', () => {
  fc.assert(
    fc.property(requestArb, (req) => {
      const bytes = encodeStreamRequest(req);
      assert.equal(peekType(bytes), StreamMessageType.streamRequest);
      const back = decodeStreamRequest(bytes);
      assert.deepEqual(
        back.ranges,
        req.ranges.map(({ level, index }) => ({ level, index })),
      );
      assert.equal(back.recordsMax, req.recordsMax);
      assert.equal(back.bytesMax, req.bytesMax);
      assert.equal(back.after === undefined, req.after === undefined);
      if (req.after !== undefined) {
        assert.ok(same(back.after!.token, req.after.token) && same(back.after!.key, req.after.key));
      }
    }),
    { numRuns: 300 },
  );
});

test('stream pages survive encoding: records (tombstones included) rebuilt with their fingerprints', () => {
  fc.assert(
    fc.property(
      fc.array(recordArb, { maxLength: 40 }),
      fc.nat(1000),
      fc.option(cursorArb, { nil: undefined }),
      (records, processed, next) => {
        const back = decodeStreamResponse(
          encodeStreamResponse({ processed, records, ...(next === undefined ? {} : { next }) }),
        );
        assert.equal(back.processed, processed);
        assert.equal(back.next === undefined, next === undefined);
        assert.equal(back.records.length, records.length);
        for (const [i, r] of records.entries()) {
          const b = back.records[i]!;
          assert.ok(same(b.key, r.key) && fpEquals(b.fp, r.fp), 'same key and fingerprint');
          assert.deepEqual(b.version, r.version);
          assert.equal(b.tombstone, r.tombstone);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('a malformed stream message is refused with PROTOCOL_INVALID, never half-read', () => {
  const invalid = (f: () => unknown, what: string): void =>
    assert.throws(f, (e: unknown) => e instanceof ConvergeError && e.code === 'PROTOCOL_INVALID', what);
  const ok = encodeStreamRequest({ ranges: [{ level: 6, index: 3 }], recordsMax: 10, bytesMax: 1000 });
  invalid(() => decodeStreamRequest(new Uint8Array([...ok, 0])), 'trailing bytes');
  invalid(() => decodeStreamRequest(ok.subarray(0, ok.length - 1)), 'cut short');
  invalid(
    () => decodeStreamRequest(encodeStreamRequest({ ranges: [], recordsMax: 1, bytesMax: 1 })),
    'no range',
  );
  invalid(
    () =>
      decodeStreamRequest(
        encodeStreamRequest({ ranges: [{ level: 1, index: 0 }], recordsMax: 0, bytesMax: 1 }),
      ),
    'no record allowed',
  );
  invalid(
    () =>
      decodeStreamRequest(
        encodeStreamRequest({ ranges: [{ level: 1, index: 0 }], recordsMax: 1, bytesMax: 0 }),
      ),
    'no byte allowed',
  );
  invalid(
    () =>
      decodeStreamRequest(
        encodeStreamRequest({ ranges: [{ level: 2, index: 4 }], recordsMax: 1, bytesMax: 1 }),
      ),
    'index beyond its level',
  );
  // Another message type is not a stream request (an older node's range fetch, say).
  invalid(
    () => decodeStreamRequest(encodeRangeFetchRequest({ ranges: [{ level: 1, index: 0 }], recordsMax: 1 })),
    'type',
  );
  // Fuzz: arbitrary bytes either decode or are refused with a protocol error.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      for (const decode of [decodeStreamRequest, decodeStreamResponse]) {
        try {
          decode(new Uint8Array([1, StreamMessageType.streamRequest, ...bytes]));
        } catch (e) {
          assert.ok(e instanceof ConvergeError && e.code.startsWith('PROTOCOL'), String(e));
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('pages answered in turn, each resumed from the last cursor, carry every record once in token order', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 3000 }), { maxLength: 250 }),
      fc.uniqueArray(fc.nat(63), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 5000 }),
      (keys, indexes, recordsMax, bytesMax) => {
        const source = new MemoryReplica(8);
        source.apply(
          keys.map((k) =>
            makeRecord(keyToBytes(`k${k}`), { ms: 1, counter: 0, node: 's' }, k % 5 ? keyToBytes('v') : null),
          ),
        );
        let ranges = [...new Set(indexes)].sort((a, b) => a - b).map((index) => ({ level: 6, index }));
        const want = ranges.flatMap(({ index }) =>
          [...source.scanTokens(...bounds(index))].map((e) => Buffer.from(e.record.key).toString('hex')),
        );
        const got: string[] = [];
        let after: StreamRequest['after'];
        while (ranges.length > 0) {
          const req = decodeStreamRequest(
            encodeStreamRequest({ ranges, recordsMax, bytesMax, ...(after === undefined ? {} : { after }) }),
          );
          const page = decodeStreamResponse(
            encodeStreamResponse(answerRangeFetch(source, req, req.bytesMax)),
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

function bounds(index: number): [Uint8Array, Uint8Array | undefined] {
  const start = new Uint8Array(8);
  new DataView(start.buffer).setUint32(0, index * 2 ** 26);
  if (index === 63) return [start, undefined];
  const end = new Uint8Array(8);
  new DataView(end.buffer).setUint32(0, (index + 1) * 2 ** 26);
  return [start, end];
}
