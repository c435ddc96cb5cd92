import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from './digest.js';
import { ConvergeError } from './errors.js';
import { MemoryReplica } from './memory-reader.js';
import { respond } from './reconcile-driver.js';
import type { Difference } from './reconcile-types.js';
import { Reconciler } from './reconciler.js';
import { type VersionedRecord, fpEquals, keyToBytes, makeRecord } from './record.js';
import { planKey } from './repair-plan.js';
import { decodeFetchResponse, decodePushResponse, encodeFetchRequest, encodePushRequest } from './wire-repair.js';

interface Op {
  key: number;
  ms: number;
  node: string;
  value: Uint8Array | null;
  side: 'both' | 'a' | 'b';
}

const opArb: fc.Arbitrary<Op> = fc.record({
  key: fc.integer({ min: 0, max: 200 }),
  ms: fc.integer({ min: 1, max: 4 }),
  node: fc.constantFrom('a', 'b'),
  value: fc.option(fc.uint8Array({ maxLength: 3 }), { nil: null, freq: 5 }),
  side: fc.constantFrom('both', 'both', 'a', 'b'),
});

function build(ops: Op[], leafBits: number): { a: MemoryReplica; b: MemoryReplica } {
  const a = new MemoryReplica(leafBits);
  const b = new MemoryReplica(leafBits);
  for (const op of ops) {
    // Equal versions with different values on the two sides model bit rot.
    const r = makeRecord(keyToBytes(`key-${op.key}`), { ms: op.ms, counter: 0, node: op.node }, op.value);
    if (op.side !== 'b') a.apply([r]);
    if (op.side !== 'a') b.apply([r]);
  }
  return { a, b };
}

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');

function bruteForce(a: MemoryReplica, b: MemoryReplica): Set<string> {
  const out = new Set<string>();
  for (const r of [...a.all(), ...b.all()]) {
    const x = a.get(r.key);
    const y = b.get(r.key);
    if (x === undefined || y === undefined || !fpEquals(x.fp, y.fp)) out.add(hex(r.key));
  }
  return out;
}

/** Runs a full session from a against b, with a checkpoint/resume after `resumeAfter` rounds. */
async function session(a: MemoryReplica, b: MemoryReplica, opts: { salt: number; branchBits: number; roundBytesMax: number; resumeAfter: number }) {
  const options = { salt: opts.salt, branchBits: opts.branchBits, roundBytesMax: opts.roundBytesMax, entriesMax: 64 };
  let rec = new Reconciler(a, options);
  const diffs: Difference[] = [];
  let rounds = 0;
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    diffs.push(...rec.onResponse(await respond(b, async (rs) => b.apply(rs), req)));
    if (++rounds === opts.resumeAfter) rec = Reconciler.resume(a, options, rec.checkpoint());
  }
  return { diffs, stats: rec.stats };
}

function expand(a: MemoryReplica, diffs: Difference[]): Array<Extract<Difference, { kind: 'key' }>> {
  return diffs.flatMap((d) => {
    if (d.kind === 'key') return [d];
    const { start, end } = prefixRange(d.level, d.index);
    return [...a.scanTokens(start, end)].map((e) => ({ kind: 'key' as const, key: e.record.key, local: e.record, remote: undefined }));
  });
}

async function repair(a: MemoryReplica, b: MemoryReplica, diffs: Array<Extract<Difference, { kind: 'key' }>>): Promise<void> {
  const plans = diffs.map(planKey);
  const pulls = plans.filter((p) => p.direction === 'pull').map((p) => p.key);
  const pushes = plans.filter((p) => p.direction === 'push').map((p) => p.local!);
  const fetched = decodeFetchResponse(await respond(b, async (rs) => b.apply(rs), encodeFetchRequest({ keys: pulls })));
  assert.equal(fetched.processed, pulls.length);
  a.apply(fetched.records);
  const pushed = decodePushResponse(await respond(b, async (rs) => b.apply(rs), encodePushRequest(pushes)));
  assert.equal(pushed.applied, pushes.length, 'every pushed record wins on the peer');
}

test('reconciliation finds exactly the differing keys, with both versions, and repair converges', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { maxLength: 120 }),
      fc.integer({ min: 4, max: 10 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 40, max: 4000 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      async (ops, leafBits, branchBits, roundBytesMax, resumeAfter, salt) => {
        const { a, b } = build(ops, leafBits);
        const want = bruteForce(a, b);
        const { diffs } = await session(a, b, { salt, branchBits, roundBytesMax, resumeAfter });
        const found = expand(a, diffs);
        assert.deepEqual(new Set(found.map((d) => hex(d.key))), want, 'exactly the symmetric difference');
        assert.equal(found.length, want.size, 'each key once');
        for (const d of found) {
          assert.equal(d.local?.fp.join(), a.get(d.key)?.fp.join());
          assert.equal(d.remote?.fp.join(), b.get(d.key)?.fp.join(), 'the peer version is reported');
        }
        await repair(a, b, found);
        assert.equal(a.digest.rootHex(), b.digest.rootHex(), 'digests equal after repair');
        const again = await session(a, b, { salt: salt ^ 1, branchBits, roundBytesMax, resumeAfter: 0 });
        assert.equal(again.diffs.length, 0, 'a second session finds nothing');
        assert.equal(again.stats.roundTrips, 1, 'converged replicas cost one exchange');
      },
    ),
    { numRuns: 300 },
  );
});

test('an empty replica is filled by the bulk path without descending key by key', async () => {
  const a = new MemoryReplica(12);
  const b = new MemoryReplica(12);
  b.apply(Array.from({ length: 3000 }, (_, i) => makeRecord(keyToBytes(`k${i}`), { ms: 1, counter: 0, node: 'b' }, keyToBytes('v'))));
  const pull = await session(a, b, { salt: 7, branchBits: 4, roundBytesMax: 1 << 20, resumeAfter: 0 });
  assert.equal(expand(a, pull.diffs).length, 3000);
  assert.ok(pull.stats.roundTrips <= 3, `bulk pull took ${pull.stats.roundTrips} round trips`);
  const push = await session(b, a, { salt: 7, branchBits: 4, roundBytesMax: 1 << 20, resumeAfter: 0 });
  assert.deepEqual(push.diffs.map((d) => d.kind), ['local-range'], 'an empty peer gets whole ranges, no key exchange');
  assert.equal(push.stats.roundTrips, 1);
});

test('fuzzed and truncated messages only ever raise protocol errors', async () => {
  const { a, b } = build(Array.from({ length: 60 }, (_, i) => ({ key: i, ms: 1, node: 'a', value: new Uint8Array([i]), side: i % 3 === 0 ? 'a' : 'both' }) as Op), 8);
  const valid: Uint8Array[] = [];
  const rec = new Reconciler(a, { salt: 1, branchBits: 4, roundBytesMax: 200, entriesMax: 64 });
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    valid.push(req);
    const res = await respond(b, async (rs) => b.apply(rs), req);
    valid.push(res);
    rec.onResponse(res);
  }
  valid.push(encodeFetchRequest({ keys: [keyToBytes('key-1')] }), encodePushRequest(a.all().slice(0, 3)));
  const rootBefore = b.digest.rootHex();
  const mutated = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.nat(255)).map(([m, at, v]) => {
      const x = m.slice();
      if (x.length > 0) x[at % x.length] = v;
      return x;
    }),
    fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([m, n]) => m.slice(0, n % (m.length + 1))),
    fc.tuple(fc.constantFrom(...valid), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([m, tail]) => Uint8Array.from([...m, ...tail])),
  );
  await fc.assert(
    fc.asyncProperty(mutated, async (bytes) => {
      const noApply = async (): Promise<{ applied: number; ignored: number }> => ({ applied: 0, ignored: 0 });
      try {
        await respond(b, noApply, bytes);
      } catch (err) {
        assert.ok(err instanceof ConvergeError, `not a ConvergeError: ${String(err)}`);
        assert.match(err.code, /^PROTOCOL_|CONFLICT/);
      }
      const r2 = new Reconciler(a, { salt: 1, branchBits: 4, roundBytesMax: 200, entriesMax: 64 });
      r2.nextRequest();
      try {
        r2.onResponse(bytes);
      } catch (err) {
        assert.ok(err instanceof ConvergeError, `initiator threw ${String(err)}`);
      }
    }),
    { numRuns: 3000 },
  );
  assert.equal(b.digest.rootHex(), rootBefore, 'nothing was applied');
});

test('repair plan: the newer version wins and says why', () => {
  const older = makeRecord(keyToBytes('k'), { ms: 1, counter: 0, node: 'a' }, keyToBytes('old'));
  const newer = makeRecord(keyToBytes('k'), { ms: 2, counter: 0, node: 'b' }, null);
  const header = (r: VersionedRecord) => ({ key: r.key, version: r.version, tombstone: r.tombstone, fp: r.fp });
  const pull = planKey({ kind: 'key', key: older.key, local: older, remote: header(newer) });
  assert.equal(pull.direction, 'pull');
  assert.match(pull.reason, /peer tombstone 2\.0@b is newer than local value 1\.0@a/);
  assert.equal(planKey({ kind: 'key', key: older.key, local: newer, remote: header(older) }).direction, 'push');
  assert.match(planKey({ kind: 'key', key: older.key, local: older, remote: undefined }).reason, /missing on peer/);
});
