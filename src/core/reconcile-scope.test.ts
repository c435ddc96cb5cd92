import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from './digest.js';
import { tokenOf } from './hash.js';
import { MemoryReplica } from './memory-reader.js';
import { repairResponderLimitsDefault, respond } from './reconcile-driver.js';
import type { Difference } from './reconcile-types.js';
import { Reconciler } from './reconciler.js';
import { fpEquals, keyToBytes, makeRecord } from './record.js';
import { Topology } from './topology.js';

interface Op {
  key: number;
  ms: number;
  side: 'both' | 'a' | 'b';
  value: number;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  key: fc.integer({ min: 0, max: 300 }),
  ms: fc.integer({ min: 1, max: 4 }),
  side: fc.constantFrom('both', 'both', 'a', 'b'),
  value: fc.integer({ min: 0, max: 3 }),
});

function build(ops: Op[], leafBits: number): { a: MemoryReplica; b: MemoryReplica } {
  const a = new MemoryReplica(leafBits);
  const b = new MemoryReplica(leafBits);
  for (const op of ops) {
    const r = makeRecord(
      keyToBytes(`key-${op.key}`),
      { ms: op.ms, counter: 0, node: 'n' },
      new Uint8Array([op.value]),
    );
    if (op.side !== 'b') a.apply([r]);
    if (op.side !== 'a') b.apply([r]);
  }
  return { a, b };
}

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');

/** Every key named by the differences, with whole ranges spelled out from the side that holds them. */
function keysOf(a: MemoryReplica, b: MemoryReplica, diffs: Difference[]): Set<string> {
  const out = new Set<string>();
  for (const d of diffs) {
    if (d.kind === 'key') {
      out.add(hex(d.key));
      continue;
    }
    const { start, end } = prefixRange(d.level, d.index);
    for (const e of (d.kind === 'remote-range' ? b : a).scanTokens(start, end)) out.add(hex(e.record.key));
  }
  return out;
}

function differing(a: MemoryReplica, b: MemoryReplica, inScope: (key: Uint8Array) => boolean): Set<string> {
  const out = new Set<string>();
  for (const r of [...a.all(), ...b.all()]) {
    const x = a.get(r.key);
    const y = b.get(r.key);
    const differs = x === undefined || y === undefined || !fpEquals(x.fp, y.fp);
    if (differs && inScope(r.key)) out.add(hex(r.key));
  }
  return out;
}

test('scoped reconciliation finds exactly the differing keys of the shared partitions, nothing else', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { maxLength: 150 }),
      fc.integer({ min: 4, max: 9 }),
      fc.integer({ min: 0, max: 9 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 4 }),
      async (ops, leafBits, bitsWanted, branchBits, peer, resumeAfter) => {
        const partitionBits = Math.min(bitsWanted, leafBits);
        const ring = Topology.create({
          members: ['n1', 'n2', 'n3', 'n4', 'n5'],
          partitions: 2 ** partitionBits,
          leafBits,
        });
        const members = ['n2', 'n3', 'n4', 'n5'];
        const shared = ring.sharedPartitions('n1', members[peer]!);
        const { a, b } = build(ops, leafBits);
        const options = {
          salt: 7,
          branchBits,
          roundBytesMax: 600,
          entriesMax: 16,
          scope: { level: partitionBits, indexes: shared },
        };
        let rec = new Reconciler(a, options);
        const diffs: Difference[] = [];
        let rounds = 0;
        for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
          diffs.push(
            ...rec.onResponse(await respond(b, async (rs) => b.apply(rs), req, repairResponderLimitsDefault)),
          );
          if (++rounds === resumeAfter) rec = Reconciler.resume(a, options, rec.checkpoint());
        }
        const sharedSet = new Set(shared);
        const inScope = (key: Uint8Array): boolean => sharedSet.has(ring.partitionOf(tokenOf(key)));
        assert.deepEqual(keysOf(a, b, diffs), differing(a, b, inScope));
        if (shared.length > 0)
          assert.ok(Math.abs(rec.stats.fraction - 1) < 1e-9, `fraction ${rec.stats.fraction}`);
      },
    ),
    { numRuns: 300 },
  );
});

test('a scope of every partition finds what the unscoped walk finds', async () => {
  const ops: Op[] = Array.from({ length: 400 }, (_, i) => ({
    key: i,
    ms: 1 + (i % 3),
    side: i % 7 === 0 ? 'a' : 'both',
    value: i % 2,
  }));
  const { a, b } = build(ops, 10);
  b.apply([makeRecord(keyToBytes('only-b'), { ms: 9, counter: 0, node: 'n' }, new Uint8Array([1]))]);
  const run = async (scope?: { level: number; indexes: number[] }): Promise<Set<string>> => {
    const rec = new Reconciler(a, {
      salt: 3,
      branchBits: 4,
      roundBytesMax: 4096,
      entriesMax: 16,
      ...(scope ? { scope } : {}),
    });
    const diffs: Difference[] = [];
    for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
      diffs.push(
        ...rec.onResponse(await respond(b, async (rs) => b.apply(rs), req, repairResponderLimitsDefault)),
      );
    }
    return keysOf(a, b, diffs);
  };
  const whole = await run();
  assert.equal(whole.size, 58 + 1); // keys 0, 7, ..., 399 on a only, and one on b only
  assert.deepEqual(await run({ level: 8, indexes: Array.from({ length: 256 }, (_, i) => i) }), whole);
  assert.deepEqual(await run({ level: 10, indexes: Array.from({ length: 1024 }, (_, i) => i) }), whole);
  assert.deepEqual(await run({ level: 3, indexes: [] }), new Set());
});

test('a scoped session between equal replicas takes one round trip of about 12 bytes per shared partition', async () => {
  const leafBits = 18;
  const a = new MemoryReplica(leafBits);
  const b = new MemoryReplica(leafBits);
  for (let i = 0; i < 20_000; i++) {
    const r = makeRecord(keyToBytes(`key-${i}`), { ms: 1, counter: 0, node: 'n' }, new Uint8Array([i & 255]));
    a.apply([r]);
    b.apply([r]);
  }
  const ring = Topology.create({ members: ['n1', 'n2', 'n3', 'n4', 'n5'], leafBits });
  const indexes = ring.sharedPartitions('n1', 'n2');
  const options = { salt: 7, ...repairResponderLimitsDefault, branchBits: 2, entriesMax: 4096 };
  const sizes: Record<string, number> = {};
  for (const [name, scope] of [
    ['unscoped', undefined],
    ['scoped', { level: ring.partitionBits, indexes }],
  ] as const) {
    const rec = new Reconciler(a, { ...options, roundBytesMax: 16_384, ...(scope ? { scope } : {}) });
    for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
      const res = await respond(b, async (rs) => b.apply(rs), req, repairResponderLimitsDefault);
      assert.deepEqual(rec.onResponse(res), []);
    }
    assert.equal(rec.stats.roundTrips, 1, `${name}: one round trip`);
    assert.ok(Math.abs(rec.stats.fraction - 1) < 1e-9, `${name}: all resolved`);
    sizes[name] = rec.stats.bytesSent;
  }
  assert.ok(sizes.scoped! <= 16 + 12 * indexes.length, `scoped ${sizes.scoped} B`);
  console.log(
    `# ${indexes.length} shared partitions: unscoped ${sizes.unscoped} B, scoped ${sizes.scoped} B`,
  );
});
