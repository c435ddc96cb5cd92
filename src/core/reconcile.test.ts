import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from './digest.js';
import { ConvergeError } from './errors.js';
import { MemoryReplica } from './memory-reader.js';
import { answerRangeFetch, repairResponderLimitsDefault, respond } from './reconcile-driver.js';
import type { Difference } from './reconcile-types.js';
import { Reconciler } from './reconciler.js';
import { fpEquals, keyToBytes, keyToString, makeRecord, type VersionedRecord } from './record.js';
import { planKey } from './repair-plan.js';
import { decodeRoundRequest, decodeRoundResponse } from './wire.js';
import {
  decodeFetchResponse,
  decodePushResponse,
  decodeRangeFetchResponse,
  encodeFetchRequest,
  encodePushRequest,
  encodeRangeFetchRequest,
  type RangeCursor,
} from './wire-repair.js';

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

/**
 * A clock that advances one millisecond each time it is read: every item of a round costs "a millisecond".
 */
function tickingClock(): () => number {
  let ms = 0;
  return () => ms++;
}

/**
 * Runs a full session from a against b, with a checkpoint/resume after `resumeAfter` rounds. With
 * `busyMsMax`, both sides time their work per round on a ticking clock and stop at that bound.
 */
async function session(
  a: MemoryReplica,
  b: MemoryReplica,
  opts: { salt: number; branchBits: number; roundBytesMax: number; resumeAfter: number; busyMsMax?: number },
) {
  const busy =
    opts.busyMsMax === undefined ? {} : { roundBusyMsMax: opts.busyMsMax, busyNow: tickingClock() };
  const options = {
    salt: opts.salt,
    branchBits: opts.branchBits,
    roundBytesMax: opts.roundBytesMax,
    entriesMax: 64,
    ...busy,
  };
  const limits = { ...repairResponderLimitsDefault, ...busy };
  let rec = new Reconciler(a, options);
  const diffs: Difference[] = [];
  let rounds = 0;
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    diffs.push(...rec.onResponse(await respond(b, async (rs) => b.apply(rs), req, limits)));
    if (++rounds === opts.resumeAfter) rec = Reconciler.resume(a, options, rec.checkpoint());
  }
  return { diffs, stats: rec.stats };
}

/** Key-level differences, with whole ranges spelled out: local ones from a, remote ones from b (the peer). */
function expand(
  a: MemoryReplica,
  diffs: Difference[],
  b?: MemoryReplica,
): Array<Extract<Difference, { kind: 'key' }>> {
  return diffs.flatMap((d) => {
    if (d.kind === 'key') return [d];
    const { start, end } = prefixRange(d.level, d.index);
    if (d.kind === 'remote-range') {
      assert.ok(b !== undefined, 'a remote range needs the peer to spell it out');
      assert.equal(
        [...a.scanTokens(start, end)].length,
        0,
        'a remote range is one the initiator holds nothing of',
      );
      return [...b.scanTokens(start, end)].map((e) => ({
        kind: 'key' as const,
        key: e.record.key,
        local: undefined,
        remote: header(e.record),
      }));
    }
    return [...a.scanTokens(start, end)].map((e) => ({
      kind: 'key' as const,
      key: e.record.key,
      local: e.record,
      remote: undefined,
    }));
  });
}

const header = (r: VersionedRecord) => ({ key: r.key, version: r.version, tombstone: r.tombstone, fp: r.fp });

/**
 * Pulls whole ranges the way a session does: range fetches of at most `recordsMax` records, cursor to cursor.
 */
async function fetchRanges(
  b: MemoryReplica,
  ranges: Array<{ level: number; index: number }>,
  recordsMax: number,
  bytesMax: number,
): Promise<{ records: VersionedRecord[]; requests: number }> {
  const records: VersionedRecord[] = [];
  let rest = ranges;
  let after: RangeCursor | undefined;
  let requests = 0;
  while (rest.length > 0) {
    const req = encodeRangeFetchRequest({
      ranges: rest,
      recordsMax,
      ...(after === undefined ? {} : { after }),
    });
    const res = decodeRangeFetchResponse(
      await respond(b, async (rs) => b.apply(rs), req, {
        ...repairResponderLimitsDefault,
        fetchResponseBytesMax: bytesMax,
      }),
    );
    requests += 1;
    assert.ok(res.records.length <= recordsMax, 'no more records than asked for');
    assert.ok(res.processed > 0 || res.next !== undefined, 'every answer makes progress');
    records.push(...res.records);
    rest = rest.slice(res.processed);
    after = res.next;
  }
  return { records, requests };
}

/** Repairs the way a session does: keys fetched or pushed by name, ranges pushed or fetched whole. */
async function repair(a: MemoryReplica, b: MemoryReplica, diffs: Difference[]): Promise<void> {
  const remote = diffs.flatMap((d) => (d.kind === 'remote-range' ? [d] : []));
  const plans = expand(
    a,
    diffs.filter((d) => d.kind !== 'remote-range'),
  ).map(planKey);
  const pulls = plans.filter((p) => p.direction === 'pull').map((p) => p.key);
  const pushes = plans.filter((p) => p.direction === 'push').map((p) => p.local!);
  const fetched = decodeFetchResponse(
    await respond(b, async (rs) => b.apply(rs), encodeFetchRequest({ keys: pulls })),
  );
  assert.equal(fetched.processed, pulls.length);
  a.apply(fetched.records);
  const pushed = decodePushResponse(await respond(b, async (rs) => b.apply(rs), encodePushRequest(pushes)));
  assert.equal(pushed.applied, pushes.length, 'every pushed record wins on the peer');
  if (remote.length > 0) a.apply((await fetchRanges(b, remote, 7, 1 << 20)).records);
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
      fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      async (ops, leafBits, branchBits, roundBytesMax, resumeAfter, salt, busyMsMax) => {
        const { a, b } = build(ops, leafBits);
        const want = bruteForce(a, b);
        const { diffs } = await session(a, b, {
          salt,
          branchBits,
          roundBytesMax,
          resumeAfter,
          ...(busyMsMax === undefined ? {} : { busyMsMax }),
        });
        const found = expand(a, diffs, b);
        assert.deepEqual(new Set(found.map((d) => hex(d.key))), want, 'exactly the symmetric difference');
        assert.equal(found.length, want.size, 'each key once');
        for (const d of found) {
          assert.equal(d.local?.fp.join(), a.get(d.key)?.fp.join());
          assert.equal(d.remote?.fp.join(), b.get(d.key)?.fp.join(), 'the peer version is reported');
        }
        await repair(a, b, diffs);
        assert.equal(a.digest.rootHex(), b.digest.rootHex(), 'digests equal after repair');
        const again = await session(a, b, { salt: salt ^ 1, branchBits, roundBytesMax, resumeAfter: 0 });
        assert.equal(again.diffs.length, 0, 'a second session finds nothing');
        assert.equal(again.stats.roundTrips, 1, 'converged replicas cost one exchange');
      },
    ),
    { numRuns: 300 },
  );
});

test('a round stops growing at the busy bound on either side, and the rest follows in later rounds', async () => {
  // Every key differs in value: the descent ends in many leaves whose entries both sides list.
  const ops: Op[] = Array.from({ length: 150 }, (_, i) => [
    { key: i, ms: 1, node: 'a', value: new Uint8Array([1]), side: 'a' as const },
    { key: i, ms: 1, node: 'b', value: new Uint8Array([2]), side: 'b' as const },
  ]).flat();
  const { a, b } = build(ops, 8);
  const unbounded = await session(a, b, { salt: 3, branchBits: 2, roundBytesMax: 1 << 20, resumeAfter: 0 });
  const bounded = await session(a, b, {
    salt: 3,
    branchBits: 2,
    roundBytesMax: 1 << 20,
    resumeAfter: 0,
    busyMsMax: 3,
  });
  assert.equal(expand(a, bounded.diffs, b).length, 150);
  assert.deepEqual(
    new Set(expand(a, bounded.diffs, b).map((d) => hex(d.key))),
    new Set(expand(a, unbounded.diffs, b).map((d) => hex(d.key))),
  );
  assert.ok(
    bounded.stats.roundTrips > 3 * unbounded.stats.roundTrips,
    `${bounded.stats.roundTrips} vs ${unbounded.stats.roundTrips} rounds`,
  );

  // The responder alone: one request with many items, answered a few items at a time.
  const rec = new Reconciler(a, { salt: 3, branchBits: 2, roundBytesMax: 1 << 20, entriesMax: 64 });
  let req = rec.nextRequest()!;
  while (true) {
    const answer = await respond(b, async (rs) => b.apply(rs), req);
    rec.onResponse(answer);
    const next = rec.nextRequest();
    assert.ok(next !== null);
    req = next;
    if (decodeRoundRequest(req).items.length > 20) break;
  }
  const items = decodeRoundRequest(req).items.length;
  const limited = decodeRoundResponse(
    await respond(b, async (rs) => b.apply(rs), req, {
      ...repairResponderLimitsDefault,
      roundBusyMsMax: 4,
      busyNow: tickingClock(),
    }),
    8,
    2,
  );
  assert.ok(
    limited.processed >= 1 && limited.processed < items,
    `${limited.processed} of ${items} items answered`,
  );
  const whole = decodeRoundResponse(await respond(b, async (rs) => b.apply(rs), req), 8, 2);
  assert.equal(whole.processed, items);

  // Key fetches too: at least one key per answer, the rest left for the next request.
  const keys = [...b.all()].slice(0, 40).map((r) => r.key);
  const fetched = decodeFetchResponse(
    await respond(b, async (rs) => b.apply(rs), encodeFetchRequest({ keys }), {
      ...repairResponderLimitsDefault,
      roundBusyMsMax: 5,
      busyNow: tickingClock(),
    }),
  );
  assert.ok(
    fetched.processed >= 1 && fetched.processed < keys.length,
    `${fetched.processed} of ${keys.length} keys answered`,
  );
});

test('an empty replica is filled by the bulk path without descending key by key', async () => {
  const a = new MemoryReplica(12);
  const b = new MemoryReplica(12);
  b.apply(
    Array.from({ length: 3000 }, (_, i) =>
      makeRecord(keyToBytes(`k${i}`), { ms: 1, counter: 0, node: 'b' }, keyToBytes('v')),
    ),
  );
  const pull = await session(a, b, { salt: 7, branchBits: 4, roundBytesMax: 1 << 20, resumeAfter: 0 });
  assert.deepEqual(
    pull.diffs.map((d) => d.kind),
    ['remote-range'],
    'an empty initiator fetches whole ranges, no key exchange',
  );
  assert.equal(pull.stats.roundTrips, 1);
  assert.equal(expand(a, pull.diffs, b).length, 3000);
  const fetched = await fetchRanges(
    b,
    pull.diffs.filter((d) => d.kind === 'remote-range'),
    250,
    1 << 20,
  );
  assert.equal(fetched.requests, 12, '3,000 records in fetches of 250');
  a.apply(fetched.records);
  assert.equal(a.digest.rootHex(), b.digest.rootHex());
  const push = await session(b, new MemoryReplica(12), {
    salt: 7,
    branchBits: 4,
    roundBytesMax: 1 << 20,
    resumeAfter: 0,
  });
  assert.deepEqual(
    push.diffs.map((d) => d.kind),
    ['local-range'],
    'an empty peer gets whole ranges, no key exchange',
  );
  assert.equal(push.stats.roundTrips, 1);
});

test('a range fetch returns every record under the ranges exactly once, in token order, across any cursor splits', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { maxLength: 300 }),
      fc.integer({ min: 2, max: 8 }),
      fc.uniqueArray(fc.nat(255), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 4000 }),
      async (keys, level, indexes, recordsMax, bytesMax) => {
        const b = new MemoryReplica(8);
        b.apply(
          keys.map((k) =>
            makeRecord(
              keyToBytes(`key-${k}`),
              { ms: 1, counter: 0, node: 'b' },
              k % 7 === 0 ? null : keyToBytes(`v${k}`),
            ),
          ),
        );
        const ranges = [...new Set(indexes.map((i) => i % 2 ** level))]
          .sort((x, y) => x - y)
          .map((index) => ({ level, index }));
        const want = ranges.flatMap(({ index }) => {
          const { start, end } = prefixRange(level, index);
          return [...b.scanTokens(start, end)].map((e) => hex(e.record.key));
        });
        const { records } = await fetchRanges(b, ranges, recordsMax, bytesMax);
        assert.deepEqual(
          records.map((r) => hex(r.key)),
          want,
          'exactly the records under the ranges, each once, in order',
        );
        for (const r of records)
          assert.ok(fpEquals(r.fp, b.get(r.key)!.fp), 'records arrive as stored, tombstones included');
      },
    ),
    { numRuns: 300 },
  );
});

test('a range fetch resumes after a cursor even among records that share its token', () => {
  // Two records with one token cannot be made from real keys (a 64-bit hash collision); a reader that
  // returns them is enough to check that the cursor compares keys within a token.
  const token = Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 1);
  const recs = ['a', 'b', 'c'].map((k) =>
    makeRecord(keyToBytes(k), { ms: 1, counter: 0, node: 'x' }, keyToBytes(k)),
  );
  const reader = {
    digest: new MemoryReplica(4).digest,
    get: () => undefined,
    *scanTokens(start: Uint8Array) {
      if (Buffer.compare(start, token) <= 0) for (const record of recs) yield { token, record };
    },
  };
  const first = answerRangeFetch(reader, { ranges: [{ level: 1, index: 1 }], recordsMax: 2 }, 1 << 20);
  assert.deepEqual(
    first.records.map((r) => keyToString(r.key)),
    ['a', 'b'],
  );
  assert.equal(first.processed, 0);
  assert.ok(first.next !== undefined);
  const rest = answerRangeFetch(
    reader,
    { ranges: [{ level: 1, index: 1 }], recordsMax: 2, after: first.next },
    1 << 20,
  );
  assert.deepEqual(
    rest.records.map((r) => keyToString(r.key)),
    ['c'],
  );
  assert.equal(rest.processed, 1);
  assert.equal(rest.next, undefined);
});

test('a range fetch reads storage only as far as its batch, even when the cursor shares its token', () => {
  const token = Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 1);
  const recs = ['a', 'b', 'c', 'd', 'e'].map((k) =>
    makeRecord(keyToBytes(k), { ms: 1, counter: 0, node: 'x' }, keyToBytes(k)),
  );
  let readMost = 0;
  const reader = {
    digest: new MemoryReplica(4).digest,
    get: () => undefined,
    *scanTokens(start: Uint8Array, _end: Uint8Array | undefined, limit = Number.POSITIVE_INFINITY) {
      readMost = Math.max(readMost, limit);
      if (Buffer.compare(start, token) > 0) return;
      for (const record of recs.slice(0, limit)) yield { token, record };
    },
  };
  for (const recordsMax of [1, 2, 3]) {
    const got: string[] = [];
    let after: RangeCursor | undefined;
    for (let i = 0; i < 10; i++) {
      const req = { ranges: [{ level: 1, index: 1 }], recordsMax, ...(after === undefined ? {} : { after }) };
      const res = answerRangeFetch(reader, req, 1 << 20);
      got.push(...res.records.map((r) => keyToString(r.key)));
      after = res.next;
      if (res.processed === 1) break;
    }
    assert.deepEqual(got, ['a', 'b', 'c', 'd', 'e'], `recordsMax ${recordsMax}`);
  }
  readMost = 0;
  answerRangeFetch(reader, { ranges: [{ level: 1, index: 1 }], recordsMax: 2 }, 1 << 20);
  assert.equal(readMost, 3, 'a batch of 2 reads 3 records');
});

test('fuzzed and truncated messages only ever raise protocol errors', async () => {
  const { a, b } = build(
    Array.from(
      { length: 60 },
      (_, i) =>
        ({ key: i, ms: 1, node: 'a', value: new Uint8Array([i]), side: i % 3 === 0 ? 'a' : 'both' }) as Op,
    ),
    8,
  );
  const valid: Uint8Array[] = [];
  const rec = new Reconciler(a, { salt: 1, branchBits: 4, roundBytesMax: 200, entriesMax: 64 });
  for (let req = rec.nextRequest(); req !== null; req = rec.nextRequest()) {
    valid.push(req);
    const res = await respond(b, async (rs) => b.apply(rs), req);
    valid.push(res);
    rec.onResponse(res);
  }
  valid.push(
    encodeFetchRequest({ keys: [keyToBytes('key-1')] }),
    encodePushRequest(a.all().slice(0, 3)),
    encodeRangeFetchRequest({
      ranges: [
        { level: 2, index: 1 },
        { level: 3, index: 7 },
      ],
      recordsMax: 5,
    }),
    encodeRangeFetchRequest({
      ranges: [{ level: 1, index: 0 }],
      recordsMax: 2,
      after: { token: new Uint8Array(8).fill(9), key: keyToBytes('key-3') },
    }),
  );
  const rootBefore = b.digest.rootHex();
  const mutated = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.nat(255)).map(([m, at, v]) => {
      const x = m.slice();
      if (x.length > 0) x[at % x.length] = v;
      return x;
    }),
    fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([m, n]) => m.slice(0, n % (m.length + 1))),
    fc
      .tuple(fc.constantFrom(...valid), fc.uint8Array({ minLength: 1, maxLength: 8 }))
      .map(([m, tail]) => Uint8Array.from([...m, ...tail])),
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
  const pull = planKey({ kind: 'key', key: older.key, local: older, remote: header(newer) });
  assert.equal(pull.direction, 'pull');
  assert.match(pull.reason, /peer tombstone 2\.0@b is newer than local value 1\.0@a/);
  assert.equal(
    planKey({ kind: 'key', key: older.key, local: newer, remote: header(older) }).direction,
    'push',
  );
  assert.match(
    planKey({ kind: 'key', key: older.key, local: older, remote: undefined }).reason,
    /missing on peer/,
  );
});
