import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { tokenOf } from '../core/hash.js';
import type { Version } from '../core/hlc.js';
import { encodeRecordValue, keyToBytes, makeRecord, merge, type VersionedRecord } from '../core/record.js';
import { createMemoryStorage } from '../storage/memory.js';
import type { Storage } from '../storage/storage.js';
import { recordKey } from './layout.js';
import { prepareRecords } from './prepared.js';
import { LocalReplica, openReplica } from './replica.js';
import { DigestVerifier } from './verify.js';

const leafBits = 6;
const noTimers = { sleep: async () => {}, schedule: () => () => {} };

async function ready(storage: Storage) {
  const replica = await openReplica({
    id: 'a',
    storage,
    leafBits,
    yieldNow: async () => {},
    rebuildSliceRecords: 7,
  });
  await replica.whenDigestReady();
  return replica;
}

/** Records of keys k0..k{keysMax}: few keys make writes meet on the same keys often. */
function recordsOver(keysMax: number): fc.Arbitrary<VersionedRecord> {
  return fc
    .record({
      key: fc.integer({ min: 0, max: keysMax }),
      ms: fc.integer({ min: 1, max: 5 }),
      counter: fc.integer({ min: 0, max: 2 }),
      node: fc.constantFrom('a', 'b', 'c'),
      value: fc.option(fc.uint8Array({ maxLength: 4 }), { nil: null, freq: 4 }),
    })
    .map(({ key, ms, counter, node, value }) => {
      const version: Version = { ms, counter, node };
      return makeRecord(keyToBytes(`k${key}`), version, value);
    });
}

const recordArb = recordsOver(15);

function expectedState(records: readonly VersionedRecord[]): Map<string, VersionedRecord> {
  const out = new Map<string, VersionedRecord>();
  for (const r of records) {
    const k = Buffer.from(r.key).toString();
    const cur = out.get(k);
    out.set(k, cur === undefined ? r : merge(cur, r));
  }
  return out;
}

test('replica: concurrent applies in any order give the merge of everything, and digest == rebuild', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(recordArb, { maxLength: 6 }), { maxLength: 8 }), async (batches) => {
      const storage = createMemoryStorage();
      const replica = await ready(storage);
      await Promise.all(batches.map((b) => replica.apply(b, 'client')));
      const all = batches.flat();
      for (const [k, want] of expectedState(all)) {
        const got = replica.get(keyToBytes(k));
        assert.ok(got !== undefined);
        assert.deepEqual(got.fp, want.fp);
      }
      const again = await replica.apply(all, 'anti-entropy');
      assert.equal(again.applied, 0, 'applying the same records twice changes nothing');
      const reversed = await ready(createMemoryStorage());
      await reversed.apply([...all].reverse(), 'client');
      assert.equal(reversed.digest.rootHex(), replica.digest.rootHex(), 'order does not matter');
      await replica.flush();
      const rebuilt = await ready(storage);
      assert.equal(rebuilt.digest.rootHex(), replica.digest.rootHex(), 'maintained digest equals a rebuild');
      assert.equal(rebuilt.digest.count(), expectedState(all).size);
    }),
    { numRuns: 150 },
  );
});

test('replica: writes during a rebuild are counted exactly once', async () => {
  const storage = createMemoryStorage();
  const seed = await ready(storage);
  const initial = Array.from({ length: 500 }, (_, i) =>
    makeRecord(keyToBytes(`k${i}`), { ms: 1, counter: 0, node: 'a' }, keyToBytes('v')),
  );
  await seed.apply(initial, 'client');
  await seed.flush();
  let slices = 0;
  let opened: LocalReplica | undefined;
  const replica = await openReplica({
    id: 'a',
    storage,
    leafBits,
    rebuildSliceRecords: 50,
    yieldNow: async () => {
      if (opened === undefined) await new Promise((resolve) => setImmediate(resolve));
      slices += 1;
      // Overwrite keys both behind and ahead of the rebuild cursor, and add new ones.
      await opened!.apply(
        [
          makeRecord(keyToBytes(`k${(slices * 37) % 500}`), { ms: 2, counter: slices, node: 'b' }, null),
          makeRecord(keyToBytes(`new${slices}`), { ms: 2, counter: 0, node: 'b' }, keyToBytes('n')),
        ],
        'client',
      );
    },
  });
  opened = replica;
  await replica.whenDigestReady();
  await replica.flush();
  assert.ok(slices > 3);
  const rebuilt = await ready(storage);
  assert.equal(replica.digest.rootHex(), rebuilt.digest.rootHex());
  assert.equal(replica.digest.count(), 500 + slices);
});

test('replica: an apply queued in the same tick as the last rebuild slice lands in the digest', async () => {
  // Found by the simulator: the last slice used to leave the cursor at its old place until a later
  // microtask, and an apply staged in between skipped the digest for a key the scan had already passed.
  const storage = createMemoryStorage();
  const seed = await ready(storage);
  await seed.apply(
    [makeRecord(keyToBytes('old'), { ms: 1, counter: 0, node: 'a' }, keyToBytes('v'))],
    'client',
  );
  await seed.flush();
  const replica = new LocalReplica({
    id: 'a',
    storage,
    leafBits,
    yieldNow: async () => {},
    rebuildSliceRecords: 7,
  });
  const rebuilt = replica.rebuild();
  const late = replica.apply(
    [makeRecord(keyToBytes('late'), { ms: 2, counter: 0, node: 'a' }, keyToBytes('w'))],
    'client',
  );
  await rebuilt;
  await late;
  assert.equal(replica.digest.count(), 2);
  assert.equal(replica.digest.rootHex(), (await ready(storage)).digest.rootHex());
});

test('replica: verification repairs planted digest drift and removes a rotten record', async () => {
  const storage = createMemoryStorage();
  const replica = await ready(storage);
  const records = Array.from({ length: 200 }, (_, i) =>
    makeRecord(keyToBytes(`k${i}`), { ms: 5, counter: 0, node: 'a' }, keyToBytes(`value ${i}`)),
  );
  await replica.apply(records, 'client');
  await replica.flush();
  const good = replica.digest.rootHex();
  // Drift: the maintained digest gets a fingerprint that storage does not hold.
  replica.digest.update(tokenOf(keyToBytes('ghost')), null, [1, 2]);
  // Rot: value bytes of one record change under the same version and stored fingerprint.
  const victim = records[17]!;
  const rotten = encodeRecordValue({ ...victim, value: keyToBytes('value XX') });
  await storage.write([{ key: recordKey(tokenOf(victim.key), victim.key), value: rotten }]);
  const found: string[] = [];
  const verifier = new DigestVerifier({
    replica,
    clock: { now: () => 0 },
    timers: noTimers,
    recordsPerSecondMax: 1e9,
    passIntervalMs: 1,
    onMismatch: (m) => found.push(m.kind),
  });
  await verifier.pass();
  assert.ok(found.includes('digest-drift'));
  assert.ok(found.includes('record-rot'));
  assert.equal(replica.get(victim.key), undefined, 'the rotten record is removed so a peer can restore it');
  assert.notEqual(replica.digest.rootHex(), good);
  await replica.apply([victim], 'anti-entropy');
  assert.equal(replica.digest.rootHex(), good, 'restoring the good copy brings the digest back');
  assert.equal(await verifier.pass(), 0, 'a second pass finds nothing');
});

test('replica: symbols follow every apply and rebuild; verification repairs planted symbol drift', async () => {
  const storage = createMemoryStorage();
  const replica = await ready(storage);
  const records = Array.from({ length: 300 }, (_, i) =>
    makeRecord(keyToBytes(`s${i}`), { ms: 5, counter: 0, node: 'a' }, keyToBytes(`v${i}`)),
  );
  await replica.apply(records, 'client');
  await replica.apply(
    records.slice(0, 50).map((r) => makeRecord(r.key, { ms: 6, counter: 0, node: 'a' }, null)),
    'client',
  );
  await replica.flush();
  assert.equal(replica.symbols!.count(), 300);
  const rebuilt = await ready(storage);
  assert.ok(rebuilt.symbols!.equals(replica.symbols!), 'a rebuild from storage gives the maintained symbols');
  const good = replica.symbols!.clone();
  replica.symbols!.toggle(123, 456, 1);
  const found: string[] = [];
  const verifier = new DigestVerifier({
    replica,
    clock: { now: () => 0 },
    timers: {
      sleep: async () => {
        // A write while the pass runs reaches both the maintained symbols and the verification's copy.
        if (
          replica.symbolShadow !== null &&
          replica.symbolShadow.leafEnd > 30 &&
          found.length === 0 &&
          !wrote
        ) {
          wrote = true;
          await replica.apply(
            [makeRecord(keyToBytes('during'), { ms: 7, counter: 0, node: 'a' }, keyToBytes('x'))],
            'client',
          );
        }
      },
      schedule: () => () => {},
    },
    recordsPerSecondMax: 500,
    passIntervalMs: 1,
    onMismatch: (m) => found.push(m.kind),
  });
  let wrote = false;
  await verifier.pass();
  assert.deepEqual(found, ['symbol-drift']);
  assert.ok(wrote);
  good.update(tokenOf(keyToBytes('during')), null, replica.get(keyToBytes('during'))!.fp);
  assert.ok(replica.symbols!.equals(good), 'the pass restores the symbols the records give');
  assert.equal(await verifier.pass(), 0, 'a second pass finds nothing');
});

test('verification waits while the node is being repaired, and at most deferMaxMs in a row', async () => {
  const replica = await ready(createMemoryStorage());
  await replica.apply(
    Array.from({ length: 40 }, (_, i) =>
      makeRecord(keyToBytes(`v${i}`), { ms: 1, counter: 0, node: 'a' }, keyToBytes('x')),
    ),
    'client',
  );
  const slept: number[] = [];
  const timers = { sleep: async (ms: number) => void slept.push(ms), schedule: () => () => {} };
  let repairingFor = 3; // three looks say "repairing", then it is over
  const verifier = new DigestVerifier({
    replica,
    clock: { now: () => 0 },
    timers,
    recordsPerSecondMax: 100 * 2 ** leafBits,
    passIntervalMs: 1,
    deferWhile: () => repairingFor-- > 0,
  });
  await verifier.pass();
  assert.equal(
    slept.filter((ms) => ms === 250).length,
    3,
    'one 250 ms wait per look that found repair going on',
  );
  assert.equal(verifier.passes, 1, 'the pass completes once repair is over');
  slept.length = 0;
  const stubborn = new DigestVerifier({
    replica,
    clock: { now: () => 0 },
    timers,
    recordsPerSecondMax: 100 * 2 ** leafBits,
    passIntervalMs: 1,
    deferWhile: () => true,
    deferMaxMs: 1000,
  });
  await stubborn.pass();
  assert.equal(stubborn.passes, 1, 'continuous repair delays verification but cannot stop it');
  const slices = slept.filter((ms) => ms !== 250).length;
  assert.equal(slept.filter((ms) => ms === 250).length, 4 * slices, 'each slice waits deferMaxMs at most');
});

test('verification keeps its schedule across restarts and never begins a pass right at a start', async () => {
  const replica = await ready(createMemoryStorage());
  let now = 1_000_000;
  const interval = 60_000;
  const startDelay = 5_000;
  /** The waits before the first pass of a verifier started now, and when it said that pass would begin. */
  const firstWait = async (): Promise<{
    waitMs: number;
    announcedAtMs: number | null;
    lastPassEndedAtMs: number | null;
  }> => {
    const ac = new AbortController();
    const waits: number[] = [];
    let announcedAtMs: number | null = null;
    const verifier: DigestVerifier = new DigestVerifier({
      replica,
      clock: { now: () => now },
      recordsPerSecondMax: 1e9,
      passIntervalMs: interval,
      startDelayMs: startDelay,
      timers: {
        sleep: async (ms, signal) => {
          if (waits.length === 0) announcedAtMs = verifier.nextPassAtMs;
          waits.push(ms);
          now += ms;
          // Stop after the first pass: the second wait is the interval.
          if (verifier.passes === 1) {
            ac.abort();
            throw signal?.reason;
          }
        },
        schedule: () => () => {},
      },
    });
    const kept = verifier.lastPassEndedAtMs;
    const startedAt = now;
    await verifier.run(ac.signal);
    assert.equal(verifier.passes, 1);
    assert.deepEqual(waits, [waits[0], interval], 'passes are one interval apart');
    assert.equal(announcedAtMs, startedAt + waits[0]!, 'status says when the first pass begins');
    return { waitMs: waits[0]!, announcedAtMs, lastPassEndedAtMs: kept };
  };
  const first = await firstWait();
  assert.equal(first.lastPassEndedAtMs, null, 'a replica never verified has no last pass');
  assert.equal(first.waitMs, startDelay, 'never verified: the first pass waits the start delay');
  // The run above ended with the interval's wait after the pass.
  const passEnded = now - interval;
  now = passEnded + 1_000;
  const soon = await firstWait();
  assert.equal(soon.lastPassEndedAtMs, passEnded, 'the end of the last pass is kept in the replica');
  assert.equal(
    soon.waitMs,
    interval - 1_000,
    'restarted a second after a pass: the next waits out its interval',
  );
  now += 10 * interval;
  assert.equal((await firstWait()).waitMs, startDelay, 'overdue: the start delay, then at once');
  now -= 100 * interval;
  assert.equal(
    (await firstWait()).waitMs,
    interval,
    'a wall clock set back never delays a pass by more than an interval',
  );
});

test('replica: tombstones are purged by version time through the index, newer writes are kept', async () => {
  const replica = await ready(createMemoryStorage());
  const v = (ms: number): Version => ({ ms, counter: 0, node: 'a' });
  await replica.apply(
    [makeRecord(keyToBytes('old'), v(10), null), makeRecord(keyToBytes('young'), v(100), null)],
    'client',
  );
  await replica.apply([makeRecord(keyToBytes('revived'), v(20), null)], 'client');
  await replica.apply([makeRecord(keyToBytes('revived'), v(30), keyToBytes('live'))], 'client');
  assert.equal(await replica.purgeTombstones(50, 100), 1);
  assert.equal(replica.get(keyToBytes('old')), undefined);
  assert.equal(replica.get(keyToBytes('young'))?.tombstone, true);
  assert.equal(replica.get(keyToBytes('revived'))?.tombstone, false);
  assert.equal(replica.digest.count(), 2);
});

test('replica: a record ignored in favour of an uncommitted newer one is answered only once that one is durable', async () => {
  let release: () => void = () => {};
  let hold = false;
  const storage = createMemoryStorage({
    writeDelay: () => (hold ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()),
  });
  const replica = await ready(storage);
  hold = true;
  const newer = replica.apply(
    [makeRecord(keyToBytes('k'), { ms: 2, counter: 0, node: 'a' }, keyToBytes('new'))],
    'client',
  );
  let olderAnswered = false;
  const older = replica
    .apply([makeRecord(keyToBytes('k'), { ms: 1, counter: 0, node: 'b' }, keyToBytes('old'))], 'replication')
    .then((r) => {
      olderAnswered = true;
      return r;
    });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(olderAnswered, false, 'not answered while the newer version is still in flight');
  hold = false;
  release();
  assert.deepEqual(await older, { applied: 0, ignored: 1 });
  await newer;
});

/** Few keys, so that the pulled records and the racing writes meet on the same keys often. */
const fewKeysArb = recordsOver(3);

test('replica: records prepared against an old snapshot never undo a change made since, and digest == rebuild', async () => {
  // A pull prepared off the event loop (prepared.ts) races foreground writes: some land before the snapshot,
  // some after it (committed or still pending when the prepared records are staged), some are removals.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fewKeysArb, { maxLength: 8 }),
      fc.array(fewKeysArb, { maxLength: 12 }),
      fc.array(
        fc.record({ batch: fc.array(fewKeysArb, { minLength: 1, maxLength: 4 }), committed: fc.boolean() }),
        { maxLength: 4 },
      ),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
      fc.array(fewKeysArb, { maxLength: 4 }),
      fc.boolean(),
      async (before, pulled, after, removed, straddling, atOnce) => {
        // Writes reach storage a tick after they are issued, as with lmdb: a snapshot misses staged changes.
        const storage = createMemoryStorage({
          writeDelay: () => new Promise((resolve) => setImmediate(resolve)),
        });
        const replica = await ready(storage);
        const epochs = replica.shareWriteEpochs();
        await replica.apply(before, 'client');
        await replica.flush();
        // Staged before the snapshot, so not in it, and committed after it; atOnce stages the pulled records
        // while these are still pending.
        const straddled = replica.apply(straddling, 'client');
        const prepared = prepareRecords(storage, pulled, epochs);
        const stagedAtOnce = atOnce ? replica.applyPrepared(prepared, 'anti-entropy') : undefined;
        await straddled;
        // Changes after the snapshot: removals of what is stored, and writes, some left pending.
        const removals = removed.flatMap((k) => {
          const key = keyToBytes(`k${k}`);
          const expected = replica.get(key);
          return expected === undefined ? [] : [{ key, expected }];
        });
        const removedKeys = new Set(removals.map((r) => Buffer.from(r.key).toString()));
        await replica.remove(removals);
        const pending: Promise<unknown>[] = [];
        for (const { batch, committed } of after) {
          const done = replica.apply(batch, 'client');
          if (committed) await done;
          else pending.push(done);
        }
        await (stagedAtOnce ?? replica.applyPrepared(prepared, 'anti-entropy'));
        await Promise.all(pending);
        await replica.flush();
        // A key never removed holds the merge of everything. A removed one holds what came after the removal:
        // the later writes, with the pulled records or without them (a pulled record that lost to the stored
        // version at the snapshot was merged, in effect, before the removal).
        const later = after.flatMap((a) => a.batch);
        const all = expectedState([...before, ...straddling, ...later, ...pulled]);
        const withPulled = expectedState([...later, ...pulled]);
        const withoutPulled = expectedState(later);
        for (const k of new Set(
          [...before, ...straddling, ...pulled, ...later].map((r) => Buffer.from(r.key).toString()),
        )) {
          const got = replica.get(keyToBytes(k))?.fp.join();
          if (!removedKeys.has(k)) assert.equal(got, all.get(k)?.fp.join(), `key ${k}`);
          else
            assert.ok(
              [withPulled.get(k)?.fp.join(), withoutPulled.get(k)?.fp.join()].includes(got),
              `removed key ${k}: ${got}`,
            );
        }
        const rebuilt = await ready(storage);
        assert.equal(
          rebuilt.digest.rootHex(),
          replica.digest.rootHex(),
          'maintained digest equals a rebuild',
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('a record stamped further ahead of the clock than the bound is refused by every apply, counted, never stored', async () => {
  const nowMs = 1_000_000;
  const storage = createMemoryStorage();
  const replica = await openReplica({
    id: 'a',
    storage,
    leafBits,
    yieldNow: async () => {},
    clock: { now: () => nowMs },
    maxClockDriftMs: 5000,
  });
  await replica.whenDigestReady();
  const refused: string[] = [];
  replica.onRefusedAhead = (r, source) => refused.push(`${new TextDecoder().decode(r.key)}/${source}`);
  const within = makeRecord(
    keyToBytes('near'),
    { ms: nowMs + 5000, counter: 0, node: 'b' },
    new Uint8Array([1]),
  );
  const ahead = makeRecord(
    keyToBytes('far'),
    { ms: nowMs + 5001, counter: 0, node: 'b' },
    new Uint8Array([2]),
  );
  for (const source of ['replication', 'hint', 'read-repair', 'anti-entropy', 'client'] as const) {
    const res = await replica.apply([within, ahead], source);
    assert.equal(res.refusedAhead, 1, source);
  }
  // The repair worker's path: merged against storage elsewhere, checked when staged.
  const epochs = replica.shareWriteEpochs();
  const farther = makeRecord(keyToBytes('farther'), { ms: nowMs + 60_000, counter: 0, node: 'b' }, null);
  const prepared = prepareRecords(storage, [farther], epochs);
  assert.equal(prepared.winners, 1);
  assert.equal((await replica.applyPrepared(prepared, 'anti-entropy')).refusedAhead, 1);
  await replica.flush();
  assert.equal(replica.get(keyToBytes('far')), undefined);
  assert.equal(replica.get(keyToBytes('farther')), undefined);
  assert.ok(replica.get(keyToBytes('near')) !== undefined);
  assert.equal(replica.digest.count(), 1);
  assert.deepEqual(replica.refusedAheadCounts(), {
    replication: 1,
    hint: 1,
    'read-repair': 1,
    'anti-entropy': 2,
    client: 1,
  });
  assert.deepEqual(refused.slice(0, 2), ['far/replication', 'far/hint']);
});

test('a write that loses only to a version stamped ahead of the clock is reported, for acknowledged sources alone', async () => {
  // The clock ran away (+60 s) while `k` was written, and was then set right.
  let nowMs = 1_060_000;
  const replica = await openReplica({
    id: 'a',
    storage: createMemoryStorage(),
    leafBits,
    yieldNow: async () => {},
    clock: { now: () => nowMs },
    maxClockDriftMs: 5000,
  });
  await replica.whenDigestReady();
  const stampedAhead = makeRecord(
    keyToBytes('k'),
    { ms: 1_060_000, counter: 0, node: 'a' },
    new Uint8Array([1]),
  );
  await replica.apply([stampedAhead], 'client');
  nowMs = 1_000_000;
  const del = makeRecord(keyToBytes('k'), { ms: 1_000_500, counter: 0, node: 'b' }, null);
  const fresh = makeRecord(
    keyToBytes('other'),
    { ms: 1_000_500, counter: 0, node: 'b' },
    new Uint8Array([2]),
  );
  for (const source of ['client', 'replication', 'hint'] as const) {
    const res = await replica.apply([del, fresh], source);
    assert.deepEqual([...(res.heldAhead ?? [])], [del], source);
  }
  for (const source of ['anti-entropy', 'read-repair'] as const) {
    assert.equal((await replica.apply([del], source)).heldAhead, undefined, source);
  }
  // A version stamped within the bound hides nothing the procedure would remove: nothing is reported.
  nowMs = 1_056_000;
  assert.equal((await replica.apply([del], 'replication')).heldAhead, undefined);
});
