import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from './digest.js';
import { ConvergeError } from './errors.js';
import { MemoryReplica } from './memory-reader.js';
import { respond } from './reconcile-driver.js';
import type { Difference } from './reconcile-types.js';
import { Reconciler, reconcilerOptionsDefault } from './reconciler.js';
import { fpEquals, keyToBytes, makeRecord } from './record.js';
import { CodedSymbols, forEachIndex } from './riblt.js';
import { peel, subtractSymbols } from './riblt-decode.js';
import { reconcileSymbols } from './symbol-driver.js';
import { SymbolReconciler, symbolPathOptionsDefault } from './symbol-reconciler.js';
import {
  decodeItemHeadersRequest,
  decodeSymbolRequest,
  decodeSymbolResponse,
  encodeItemHeadersRequest,
  encodeSymbolRequest,
  encodeSymbolResponse,
} from './wire-symbols.js';

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');
const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });

interface Op {
  key: number;
  ms: number;
  value: number | null;
  side: 'both' | 'a' | 'b';
}

const opArb = (keys: number): fc.Arbitrary<Op> =>
  fc.record({
    key: fc.integer({ min: 0, max: keys }),
    ms: fc.integer({ min: 1, max: 4 }),
    value: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null, freq: 6 }),
    side: fc.constantFrom('both', 'both', 'both', 'a', 'b'),
  });

function build(ops: Op[], symbolsMax: number): { a: MemoryReplica; b: MemoryReplica } {
  const a = new MemoryReplica(8, symbolsMax);
  const b = new MemoryReplica(8, symbolsMax);
  for (const op of ops) {
    const value = op.value === null ? null : new Uint8Array([op.value]);
    const r = makeRecord(keyToBytes(`key-${op.key}`), { ms: op.ms, counter: 0, node: 'n' }, value);
    if (op.side !== 'b') a.apply([r]);
    if (op.side !== 'a') b.apply([r]);
  }
  return { a, b };
}

function bruteForce(a: MemoryReplica, b: MemoryReplica): Set<string> {
  const out = new Set<string>();
  for (const r of [...a.all(), ...b.all()]) {
    const x = a.get(r.key);
    const y = b.get(r.key);
    if (x === undefined || y === undefined || !fpEquals(x.fp, y.fp)) out.add(hex(r.key));
  }
  return out;
}

/** The symbol path, then the tree descent if it fell back: what a session does. */
async function discover(
  a: MemoryReplica,
  b: MemoryReplica,
  salt: number,
  beforeAnswer: () => void = () => {},
) {
  const exchange = (req: Uint8Array) => {
    beforeAnswer();
    return respond(b, noApply, req);
  };
  const path = new SymbolReconciler(a, { ...symbolPathOptionsDefault, salt });
  await reconcileSymbols(path, exchange);
  const found: Difference[] = [...path.differences];
  if (path.outcome?.kind !== 'decoded') {
    const tree = new Reconciler(a, { ...reconcilerOptionsDefault, salt, entriesMax: 64 });
    for (let req = tree.nextRequest(); req !== null; req = tree.nextRequest()) {
      found.push(...tree.onResponse(await exchange(req)));
    }
  }
  const keys = new Set<string>();
  for (const d of found) {
    if (d.kind === 'key') keys.add(hex(d.key));
    else {
      const side = d.kind === 'local-range' ? a : b;
      const { start, end } = prefixRange(d.level, d.index);
      for (const { record } of side.scanTokens(start, end)) keys.add(hex(record.key));
    }
  }
  return { keys, path };
}

test('maintained symbols equal symbols built from scratch, whatever the order of writes', () => {
  fc.assert(
    fc.property(fc.array(opArb(40), { maxLength: 120 }), (ops) => {
      const { a } = build(ops, 256);
      const fresh = new CodedSymbols(256);
      for (const { token, record } of a.scanTokens(new Uint8Array(8), undefined))
        fresh.update(token, null, record.fp);
      assert.ok(fresh.equals(a.symbols!));
      assert.equal(a.symbols!.count(), a.all().length);
    }),
    { numRuns: 200 },
  );
});

test('an item maps to symbol 0 and to index i with probability near 1/(1 + i/2)', () => {
  const hits = new Array<number>(64).fill(0);
  const items = 20_000;
  for (let n = 0; n < items; n++) forEachIndex(n * 2654435761, n ^ 0x5bd1e995, 64, (i) => (hits[i]! += 1));
  assert.equal(hits[0], items);
  for (const i of [1, 4, 16, 63]) {
    const expected = items / (1 + i / 2);
    assert.ok(Math.abs(hits[i]! - expected) < 0.1 * expected, `index ${i}: ${hits[i]} vs ${expected}`);
  }
});

test('peeling recovers a random symmetric difference exactly', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 2 ** 31 }), (m, seed) => {
      const x = new CodedSymbols(512);
      const y = new CodedSymbols(512);
      const want = new Set<string>();
      let s = seed;
      const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
      for (let i = 0; i < 30; i++) {
        const [h, l] = [next(), next()];
        x.toggle(h, l, 1);
        y.toggle(h, l, 1);
      }
      for (let i = 0; i < m; i++) {
        const [h, l] = [next(), next()];
        (i % 2 === 0 ? x : y).toggle(h, l, 1);
        want.add(`${h}:${l}`);
      }
      const result = peel(subtractSymbols(x.triples(0, 512), y.triples(0, 512)));
      assert.ok(result.complete);
      assert.deepEqual(new Set(result.items.map(([h, l]) => `${h}:${l}`)), want);
    }),
    { numRuns: 200 },
  );
});

test('symbol path (with its fallback) finds exactly the brute-force difference', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb(300), { maxLength: 400 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      async (ops, salt) => {
        const { a, b } = build(ops, 512);
        const { keys } = await discover(a, b, salt);
        assert.deepEqual(keys, bruteForce(a, b));
      },
    ),
    { numRuns: 150 },
  );
});

test('writes landing between the steps of the symbol path: nothing invented, nothing lost', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb(200), { maxLength: 300 }),
      fc.array(opArb(200), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      async (ops, during, salt) => {
        const { a, b } = build(ops, 512);
        const before = bruteForce(a, b);
        const written = new Set<string>();
        let next = 0;
        // One write per exchange (on a, b or both), on the initiator's and the responder's side alike.
        const { keys } = await discover(a, b, salt, () => {
          const op = during[next++];
          if (op === undefined) return;
          const key = keyToBytes(`key-${op.key}`);
          const value = op.value === null ? null : new Uint8Array([op.value]);
          const r = makeRecord(key, { ms: 10 + next, counter: 0, node: 'w' }, value);
          if (op.side !== 'b') a.apply([r]);
          if (op.side !== 'a') b.apply([r]);
          written.add(hex(key));
        });
        const after = bruteForce(a, b);
        for (const k of keys) assert.ok(before.has(k) || after.has(k) || written.has(k), `invented ${k}`);
        for (const k of after) assert.ok(keys.has(k) || written.has(k), `lost ${k}`);
      },
    ),
    { numRuns: 150 },
  );
});

test('a small difference decodes in one round trip; a large one falls back to the tree', async () => {
  const ops: Op[] = Array.from({ length: 2000 }, (_, key) => ({ key, ms: 1, value: 1, side: 'both' }));
  for (let key = 0; key < 5; key++) ops.push({ key, ms: 2, value: 2, side: 'b' });
  const small = build(ops, 4096);
  const one = await discover(small.a, small.b, 7);
  assert.equal(one.path.outcome?.kind, 'decoded');
  assert.equal(one.path.stats.roundTrips, 1);
  assert.deepEqual(one.keys, bruteForce(small.a, small.b));
  for (let key = 0; key < 1500; key++) ops.push({ key, ms: 3, value: 3, side: 'a' });
  const large = build(ops, 256);
  const many = await discover(large.a, large.b, 9);
  assert.equal(many.path.outcome?.kind, 'fallback');
  assert.deepEqual(many.keys, bruteForce(large.a, large.b));
});

test('symbol messages refuse truncation, bad kinds and oversized counts with protocol errors', () => {
  const probe = encodeSymbolRequest({
    kind: 'probe',
    salt: 1,
    root: { hi: 1, lo: 2, count: 3 },
    sketch: { level: 4, bits: 16, parities: new Uint8Array(2) },
    symbols: new Uint32Array(9),
  });
  assert.equal(decodeSymbolRequest(probe).kind, 'probe');
  for (let cut = 0; cut < probe.length; cut++) {
    assert.throws(() => decodeSymbolRequest(probe.subarray(0, cut)), ConvergeError);
  }
  const bad = probe.slice();
  bad[2] = 9;
  assert.throws(() => decodeSymbolRequest(bad), /unknown symbol request kind/);
  assert.throws(() => decodeSymbolResponse(new Uint8Array([1, 10, 7])), ConvergeError);
  assert.throws(
    () => decodeItemHeadersRequest(new Uint8Array([1, 11, 0xff, 0xff, 0xff, 0x7f])),
    ConvergeError,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
      for (const decode of [decodeSymbolRequest, decodeSymbolResponse, decodeItemHeadersRequest]) {
        for (const type of [9, 10, 11]) {
          try {
            decode(new Uint8Array([1, type, ...tail]));
          } catch (err) {
            assert.ok(err instanceof ConvergeError, String(err));
          }
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('every symbol message kind decodes to what was encoded', () => {
  const root = { hi: 0xdeadbeef, lo: 7, count: 123_456 };
  const version = { ms: 1_760_000_000_000, counter: 3, node: 'n2' };
  const sketch = { level: 12, bits: 20, parities: new Uint8Array([1, 2, 3]) };
  const symbols = Uint32Array.from([1, 2, 3, 4, 5, 6]);
  for (const res of [
    { kind: 'symbols', root, estimate: 42, sketch, from: 48, symbols },
    { kind: 'too-different', root, estimate: 99_999 },
    {
      kind: 'decoded',
      root,
      remote: [
        {
          item: [5, 6],
          header: {
            gone: false,
            tokenLo: 9,
            key: keyToBytes('k'),
            version,
            tombstone: false,
            fpHi: 6,
            fpLo: 8,
          },
        },
        {
          item: [7, 8],
          header: { gone: false, tokenLo: 1, key: undefined, version, tombstone: true, fpHi: 9, fpLo: 2 },
        },
      ],
      initiator: [[1, 2]],
    },
  ] as const) {
    assert.deepEqual(decodeSymbolResponse(encodeSymbolResponse(res)), res);
  }
  const more = { kind: 'more', from: 10, to: 20 } as const;
  assert.deepEqual(decodeSymbolRequest(encodeSymbolRequest(more)), more);
  assert.throws(
    () => decodeSymbolRequest(encodeSymbolRequest({ kind: 'more', from: 20, to: 10 })),
    /symbol range/,
  );
  const items = [
    [1, 2],
    [3, 4],
  ] as const;
  const req = decodeItemHeadersRequest(encodeItemHeadersRequest({ items, keyKnown: [true, false] }));
  assert.deepEqual(req, {
    items: [
      [1, 2],
      [3, 4],
    ],
    keyKnown: [true, false],
  });
});
