import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from './digest.js';
import { ConvergeError } from './errors.js';
import { tokenHi, tokenOf } from './hash.js';
import { MemoryReplica } from './memory-reader.js';
import { PartitionSymbols, partitionSymbolsSize } from './partition-symbols.js';
import { respond } from './reconcile-driver.js';
import type { Difference } from './reconcile-types.js';
import { Reconciler, reconcilerOptionsDefault } from './reconciler.js';
import { fpEquals, keyToBytes, makeRecord } from './record.js';
import { CodedSymbols } from './riblt.js';
import { reconcileSymbols } from './symbol-driver.js';
import { SymbolReconciler, symbolPathOptionsDefault } from './symbol-reconciler.js';
import { scopedRoot } from './symbol-shared.js';
import { decodeSymbolRequest, encodeSymbolRequest, type SymbolScope } from './wire-symbols.js';

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');
const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });
const bits = 3;
const partitionOf = (key: Uint8Array): number => tokenHi(tokenOf(key)) >>> (32 - bits);

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

const scopeArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 2 ** bits - 1 }), { minLength: 1, maxLength: 2 ** bits })
  .map((ps) => ps.sort((x, y) => x - y));

function build(ops: Op[], size: number): { a: MemoryReplica; b: MemoryReplica } {
  const a = new MemoryReplica(8, 256, { bits, size });
  const b = new MemoryReplica(8, 256, { bits, size });
  for (const op of ops) {
    const value = op.value === null ? null : new Uint8Array([op.value]);
    const r = makeRecord(keyToBytes(`key-${op.key}`), { ms: op.ms, counter: 0, node: 'n' }, value);
    if (op.side !== 'b') a.apply([r]);
    if (op.side !== 'a') b.apply([r]);
  }
  return { a, b };
}

/** Keys whose records differ, restricted to the scope's partitions. */
function bruteForce(a: MemoryReplica, b: MemoryReplica, partitions: readonly number[]): Set<string> {
  const out = new Set<string>();
  for (const r of [...a.all(), ...b.all()]) {
    if (!partitions.includes(partitionOf(r.key))) continue;
    const x = a.get(r.key);
    const y = b.get(r.key);
    if (x === undefined || y === undefined || !fpEquals(x.fp, y.fp)) out.add(hex(r.key));
  }
  return out;
}

/** A scoped session's discovery: the symbol path over the scope, then the scoped descent if it fell back. */
async function discover(a: MemoryReplica, b: MemoryReplica, scope: SymbolScope, salt: number) {
  const exchange = (req: Uint8Array) => respond(b, noApply, req);
  const path = new SymbolReconciler(a, { ...symbolPathOptionsDefault, salt, scope });
  await reconcileSymbols(path, exchange);
  const found: Difference[] = [...path.differences];
  if (path.outcome?.kind !== 'decoded') {
    const treeScope = { level: scope.partitionBits, indexes: scope.partitions };
    const tree = new Reconciler(a, { ...reconcilerOptionsDefault, salt, entriesMax: 64, scope: treeScope });
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

test('per-partition symbols summed over any set of partitions equal the symbols of their records', () => {
  fc.assert(
    fc.property(fc.array(opArb(60), { maxLength: 150, size: 'max' }), scopeArb, (ops, partitions) => {
      const { a } = build(ops, 256);
      const parts = a.partitionSymbols!;
      const fresh = new CodedSymbols(256);
      let records = 0;
      for (const { token, record } of a.scanTokens(new Uint8Array(8), undefined)) {
        if (!partitions.includes(parts.partitionOf(tokenHi(token)))) continue;
        fresh.update(token, null, record.fp);
        records += 1;
      }
      assert.deepEqual(parts.triples(partitions, 0, 256), fresh.triples(0, 256));
      assert.equal(parts.count(partitions), records);
      assert.equal(scopedRoot(a.digest, { partitionBits: bits, partitions }).count, records);
      // Every partition together: the whole keyspace's symbols.
      const all = Array.from({ length: 2 ** bits }, (_, p) => p);
      assert.deepEqual(parts.triples(all, 0, 256), a.symbols!.triples(0, 256));
    }),
    { numRuns: 200 },
  );
});

test('a scoped exchange (and its fallback) finds exactly the brute-force difference in scope', async () => {
  const outcomes = { decoded: 0, fallback: 0 };
  await fc.assert(
    fc.asyncProperty(
      // size 'max': the default size keeps arrays short, and short differences never reach the fallback.
      fc.array(opArb(300), { maxLength: 400, size: 'max' }),
      scopeArb,
      fc.constantFrom(64, 512),
      fc.integer({ min: 0, max: 2 ** 31 }),
      async (ops, partitions, size, salt) => {
        const { a, b } = build(ops, size);
        const { keys, path } = await discover(a, b, { partitionBits: bits, partitions }, salt);
        assert.deepEqual(keys, bruteForce(a, b, partitions));
        outcomes[path.outcome?.kind ?? 'fallback'] += 1;
        // Nothing outside the scope, whichever path found it.
        for (const d of path.differences) {
          if (d.kind === 'key') assert.ok(partitions.includes(partitionOf(d.key)));
        }
      },
    ),
    { numRuns: 150 },
  );
  assert.ok(outcomes.decoded > 0 && outcomes.fallback > 0, JSON.stringify(outcomes));
});

test('a scoped exchange decodes in one round trip though other partitions differ a lot', async () => {
  const ops: Op[] = Array.from({ length: 2000 }, (_, key) => ({ key, ms: 1, value: 1, side: 'both' }));
  const scope = { partitionBits: bits, partitions: [2, 5] };
  let inScope = 0;
  for (let key = 0; key < 2000; key++) {
    const inside = scope.partitions.includes(partitionOf(keyToBytes(`key-${key}`)));
    // Five changed keys inside the scope, hundreds outside it.
    if (inside && inScope++ < 5) ops.push({ key, ms: 2, value: 2, side: 'b' });
    if (!inside && key % 3 === 0) ops.push({ key, ms: 3, value: 3, side: 'a' });
  }
  const { a, b } = build(ops, 64);
  const { keys, path } = await discover(a, b, scope, 11);
  assert.equal(path.outcome?.kind, 'decoded');
  assert.equal(path.stats.roundTrips, 1);
  assert.equal(keys.size, 5);
  assert.deepEqual(keys, bruteForce(a, b, scope.partitions));
});

test("a scoped difference too large for the probe is sized by the scope's own parity sketch", async () => {
  const ops: Op[] = Array.from({ length: 3000 }, (_, key) => ({ key, ms: 1, value: 1, side: 'both' }));
  const scope = { partitionBits: bits, partitions: [2, 5] };
  let inScope = 0;
  for (let key = 0; key < 3000; key++) {
    const inside = scope.partitions.includes(partitionOf(keyToBytes(`key-${key}`)));
    if (inside && inScope++ < 60) ops.push({ key, ms: 2, value: 2, side: 'b' });
    if (!inside && key % 2 === 0) ops.push({ key, ms: 3, value: 3, side: 'a' });
  }
  const { a, b } = build(ops, 2048);
  const { keys, path } = await discover(a, b, scope, 3);
  assert.equal(path.outcome?.kind, 'decoded');
  assert.equal(keys.size, 60);
  // 120 differing items: a few hundred symbols, not the 2,048 an unsized difference would be sent.
  assert.ok(path.stats.symbolsReceived < 600, `received ${path.stats.symbolsReceived} symbols`);
});

test('a replica without symbols for the scope refuses it with a protocol error', async () => {
  const a = new MemoryReplica(8, 256, { bits, size: 64 });
  const b = new MemoryReplica(8, 256, { bits: 4, size: 64 });
  const c = new MemoryReplica(8, 256);
  const req = encodeSymbolRequest({
    kind: 'more',
    from: 0,
    to: 8,
    scope: { partitionBits: bits, partitions: [0, 1, 7] },
  });
  assert.ok(a.partitionSymbols !== undefined);
  for (const peer of [b, c]) {
    await assert.rejects(respond(peer, noApply, req), (err: unknown) => {
      return err instanceof ConvergeError && err.code === 'PROTOCOL_INVALID';
    });
  }
});

test('scoped requests round-trip; malformed scopes are refused with protocol errors', () => {
  const scope = { partitionBits: 8, partitions: [0, 1, 2, 9, 200, 201, 255] };
  const probe = encodeSymbolRequest({
    kind: 'probe',
    salt: 5,
    scope,
    root: { hi: 1, lo: 2, count: 3 },
    sketch: { level: 0, bits: 0, parities: new Uint8Array(0) },
    symbols: Uint32Array.from([1, 2, 3]),
  });
  const back = decodeSymbolRequest(probe);
  assert.equal(back.kind, 'probe');
  assert.deepEqual(back.scope, scope);
  const more = decodeSymbolRequest(encodeSymbolRequest({ kind: 'more', from: 4, to: 9, scope }));
  assert.deepEqual(more, { kind: 'more', from: 4, to: 9, scope });
  for (let cut = 0; cut < probe.length; cut++) {
    assert.throws(() => decodeSymbolRequest(probe.subarray(0, cut)), ConvergeError);
  }
  // version, type, kind 4 (scoped more), bits, runs, then [first, last] pairs, from, to
  const bad = [
    [1, 9, 4, 0, 1, 0, 0, 0, 1], // zero partition bits
    [1, 9, 4, 17, 1, 0, 0, 0, 1], // more bits than the ring allows
    [1, 9, 4, 2, 0, 0, 1], // an empty scope
    [1, 9, 4, 2, 1, 0, 4, 0, 1], // a partition past 2^bits
    [1, 9, 4, 2, 2, 2, 3, 0, 1, 0, 1], // runs out of order
    [1, 9, 4, 2, 1, 3, 2, 0, 1], // a run ending before it starts
    [1, 9, 4, 2, 5, 0, 0, 0, 1], // more runs than partitions
  ];
  for (const bytes of bad) {
    assert.throws(() => decodeSymbolRequest(Uint8Array.from(bytes)), ConvergeError, String(bytes));
  }
});

test('per-partition sizes come from the budget; too small a share keeps none', () => {
  assert.equal(partitionSymbolsSize(8, 2 ** 18), 1024);
  assert.equal(partitionSymbolsSize(0, 2 ** 18), 0, 'one partition: the whole-keyspace symbols serve');
  assert.equal(partitionSymbolsSize(12, 2 ** 18), 64);
  assert.equal(partitionSymbolsSize(13, 2 ** 18), 0);
  assert.equal(PartitionSymbols.forBudget(8, 0), undefined);
  assert.equal(PartitionSymbols.forBudget(8, 2 ** 16)!.bytes, 2 ** 20);
});
