// The repair worker over real lmdb stores: range-fetch answers byte for byte as the event loop gives
// them, at the lowest OS priority; protocol errors kept; a failed or closed worker leaving the work to the
// caller; and pulled or pushed records prepared off the event loop, keys written since the worker's snapshot
// merged again.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { prefixRange } from '../core/digest.js';
import { ConvergeError } from '../core/errors.js';
import { tokenOf } from '../core/hash.js';
import { MemoryReplica } from '../core/memory-reader.js';
import { repairResponderLimitsDefault, respond } from '../core/reconcile-driver.js';
import { keyToBytes, makeRecord } from '../core/record.js';
import {
  decodePushRequest,
  decodeRangeFetchResponse,
  encodeRangeFetchRequest,
  type RangeCursor,
  recordBytes,
} from '../core/wire-repair.js';
import { openReplica } from '../replica/replica.js';
import { openLmdbStorage } from '../storage/lmdb.js';
import type { ReaderSpec } from '../storage/storage.js';
import { startRepairWorker } from './repair-worker.js';

/** The repair worker's reader spec for an lmdb folder (the node's store opened with sync none). */
const lmdbReader = (path: string): ReaderSpec => ({ engine: 'lmdb', path, sync: 'none' });

const leafBits = 8;

function underPrefix(level: number, index: number, key: Uint8Array): boolean {
  const { start, end } = prefixRange(level, index);
  const token = tokenOf(key);
  return Buffer.compare(token, start) >= 0 && (end === undefined || Buffer.compare(token, end) < 0);
}
const responseBytesMax = repairResponderLimitsDefault.fetchResponseBytesMax;

test('the worker answers range fetches byte for byte as the event loop does, at the lowest OS priority', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const storage = openLmdbStorage({ path: dir, sync: 'none' });
  const replica = await openReplica({ id: 'a', storage, leafBits });
  const worker = startRepairWorker({ reader: lmdbReader(dir), responseBytesMax });
  try {
    await replica.whenDigestReady();
    // 2,000 records, every tenth a tombstone: committed before any answer, so the event loop's view (records
    // plus pending overlay) and the worker's (committed records) hold the same.
    const records = Array.from({ length: 2000 }, (_, i) =>
      makeRecord(
        keyToBytes(`key-${i}`),
        { ms: 1_000 + i, counter: 0, node: 'a' },
        i % 10 === 0 ? null : Buffer.from(`value-${i}`),
      ),
    );
    await replica.apply(records, 'anti-entropy');
    await replica.flush();
    const noPush = async () => ({ applied: 0, ignored: 0 });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: leafBits }),
        fc.nat(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 300 }),
        async (level, index, count, recordsMax) => {
          const indexes = [
            ...new Set(Array.from({ length: count }, (_, i) => (index + i * 7) % 2 ** level)),
          ].sort((a, b) => a - b);
          let rest = indexes.map((i) => ({ level, index: i }));
          let after: RangeCursor | undefined;
          let fetched = 0;
          // Follows the cursor to the end, as a pulling session does.
          while (rest.length > 0) {
            const body = encodeRangeFetchRequest({
              ranges: rest,
              recordsMax,
              ...(after === undefined ? {} : { after }),
            });
            const expected = await respond(replica, noPush, body, repairResponderLimitsDefault);
            const got = await worker.answer(body);
            assert.ok(got !== undefined, 'the worker answered');
            assert.equal(
              Buffer.compare(Buffer.from(got), Buffer.from(expected)),
              0,
              'the same bytes as the event loop',
            );
            const res = decodeRangeFetchResponse(got);
            fetched += res.records.length;
            rest = rest.slice(res.processed);
            after = res.next;
          }
          const wanted = records.filter((r) => indexes.some((i) => underPrefix(level, i, r.key))).length;
          assert.equal(fetched, wanted, 'every record under the ranges, once');
        },
      ),
      { numRuns: 40 },
    );
    if (process.platform === 'linux') assert.equal(worker.nice(), 19, 'the worker thread runs at nice 19');
  } finally {
    await worker.close();
    await replica.flush();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the worker sees records committed after it started answering', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const storage = openLmdbStorage({ path: dir, sync: 'none' });
  const replica = await openReplica({ id: 'a', storage, leafBits });
  const worker = startRepairWorker({ reader: lmdbReader(dir), responseBytesMax });
  const everything = encodeRangeFetchRequest({ ranges: [{ level: 0, index: 0 }], recordsMax: 10_000 });
  const count = async (): Promise<number> =>
    decodeRangeFetchResponse((await worker.answer(everything))!).records.length;
  try {
    await replica.whenDigestReady();
    const write = async (from: number, n: number): Promise<void> => {
      const batch = Array.from({ length: n }, (_, i) =>
        makeRecord(keyToBytes(`late-${from + i}`), { ms: 5_000, counter: 0, node: 'a' }, Buffer.from('v')),
      );
      await replica.apply(batch, 'anti-entropy');
      await replica.flush();
    };
    assert.equal(await count(), 0);
    await write(0, 10);
    assert.equal(await count(), 10, 'no snapshot is kept from an earlier answer');
    await write(10, 5);
    assert.equal(await count(), 15);
  } finally {
    await worker.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a request the worker cannot read gets the protocol error the event loop would give', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const worker = startRepairWorker({ reader: lmdbReader(dir), responseBytesMax });
  try {
    await assert.rejects(worker.answer(new Uint8Array([1, 7, 0xff, 0xff])), (err) => {
      assert.ok(err instanceof ConvergeError);
      assert.match(err.code, /^PROTOCOL_/);
      return true;
    });
  } finally {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that cannot open the store is reported once, and leaves every answer to the caller', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  // A file where the data folder should be: lmdb cannot open it.
  const notADir = join(dir, 'file');
  writeFileSync(notADir, 'x');
  const failures: Error[] = [];
  let failed!: () => void;
  const reported = new Promise<void>((resolve) => (failed = resolve));
  const worker = startRepairWorker({
    reader: lmdbReader(notADir),
    responseBytesMax,
    onFailure: (err) => {
      failures.push(err);
      failed();
    },
  });
  try {
    await reported;
    assert.equal(worker.running(), false);
    const body = encodeRangeFetchRequest({ ranges: [{ level: 0, index: 0 }], recordsMax: 10 });
    assert.equal(await worker.answer(body), undefined);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!.message, /lmdb|ENOTDIR|EEXIST|not a directory/i);
  } finally {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after close, answers are left to the caller and no failure is reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  let failures = 0;
  const worker = startRepairWorker({
    reader: lmdbReader(dir),
    responseBytesMax,
    onFailure: () => (failures += 1),
  });
  const body = encodeRangeFetchRequest({ ranges: [{ level: 0, index: 0 }], recordsMax: 10 });
  assert.ok((await worker.answer(body)) !== undefined);
  assert.equal(worker.running(), true);
  await worker.close();
  assert.equal(worker.running(), false);
  assert.equal(await worker.answer(body), undefined);
  assert.equal(failures, 0);
  rmSync(dir, { recursive: true, force: true });
});

test('workers closed the moment they start (their storage still opening) end cleanly, the process with them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  let failures = 0;
  for (let i = 0; i < 8; i++) {
    const worker = startRepairWorker({
      reader: lmdbReader(dir),
      responseBytesMax,
      onFailure: () => (failures += 1),
    });
    await worker.close();
    assert.equal(worker.running(), false);
  }
  assert.equal(failures, 0);
  rmSync(dir, { recursive: true, force: true });
});

test('the worker prepares pulled records; the replica stages them and re-merges keys written meanwhile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const storage = openLmdbStorage({ path: dir, sync: 'none' });
  const replica = await openReplica({ id: 'a', storage, leafBits });
  const worker = startRepairWorker({
    reader: lmdbReader(dir),
    responseBytesMax,
    writeEpochs: replica.shareWriteEpochs(),
  });
  const peer = new MemoryReplica(leafBits);
  const record = (i: number, ms: number, value: string | null) =>
    makeRecord(
      keyToBytes(`key-${i}`),
      { ms, counter: 0, node: 'b' },
      value === null ? null : Buffer.from(value),
    );
  try {
    await replica.whenDigestReady();
    // Held here: keys 0-99 at ms 10 (the peer has 0-49 newer, 50-99 older). The peer also has 100-599, a
    // tenth of them tombstones, some older than the purge bound.
    await replica.apply(
      Array.from({ length: 100 }, (_, i) => record(i, 10, 'here')),
      'client',
    );
    await replica.flush();
    peer.apply(Array.from({ length: 100 }, (_, i) => record(i, i < 50 ? 20 : 5, 'peer')));
    peer.apply(
      Array.from({ length: 500 }, (_, i) => record(100 + i, 1_000 + i, i % 10 === 0 ? null : 'peer')),
    );
    const purgedBeforeMs = 1_100;
    const body = await respond(
      peer,
      async () => ({ applied: 0, ignored: 0 }),
      encodeRangeFetchRequest({ ranges: [{ level: 0, index: 0 }], recordsMax: 10_000 }),
    );
    const expected = decodeRangeFetchResponse(body);
    replica.followPurgeBound(() => purgedBeforeMs);
    const got = await worker.prepareRange(body);
    assert.ok(got !== undefined);
    assert.equal(got.processed, expected.processed);
    assert.equal(got.records, 600);
    assert.equal(got.bytes, recordBytes(expected.records));
    // 50-99 lose to what is here. Tombstones under the purge bound (ms < 1,100 among 100-599: 10 of them)
    // are prepared too: the replica drops them when it applies.
    assert.equal(got.prepared.losers, 50);
    assert.equal(got.prepared.winners, 600 - 50);
    // Written after the worker's snapshot, newer than the peer's: must survive the prepared batch.
    await replica.apply([record(7, 30, 'foreground'), record(300, 5_000, null)], 'client');
    await replica.flush();
    // Only the two keys written since the snapshot are merged again on the event loop.
    const mergedAgain: string[] = [];
    const apply = replica.apply.bind(replica);
    replica.apply = (records, source) => {
      mergedAgain.push(...records.map((r) => Buffer.from(r.key).toString()));
      return apply(records, source);
    };
    const result = await replica.applyPrepared(got.prepared, 'anti-entropy');
    replica.apply = apply;
    assert.deepEqual(mergedAgain.sort(), ['key-300', 'key-7']);
    assert.equal(result.applied, 600 - 50 - 10 - 2);
    assert.equal(result.purged, 10);
    await replica.flush();
    assert.equal(Buffer.from(replica.get(keyToBytes('key-7'))!.value).toString(), 'foreground');
    assert.equal(replica.get(keyToBytes('key-300'))!.tombstone, true);
    assert.equal(Buffer.from(replica.get(keyToBytes('key-8'))!.value).toString(), 'peer');
    assert.equal(Buffer.from(replica.get(keyToBytes('key-60'))!.value).toString(), 'here');
    assert.equal(replica.get(keyToBytes('key-100')), undefined, 'a purged tombstone is not brought back');
    const rebuilt = await openReplica({ id: 'b', storage, leafBits });
    await rebuilt.whenDigestReady();
    assert.equal(replica.digest.rootHex(), rebuilt.digest.rootHex());
    await assert.rejects(worker.prepareRange(new Uint8Array([1, 8, 0xff])), (err) => {
      assert.ok(err instanceof ConvergeError);
      assert.match(err.code, /^PROTOCOL_/);
      return true;
    });
  } finally {
    await worker.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker started without write epochs prepares nothing: the caller decodes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const worker = startRepairWorker({ reader: lmdbReader(dir), responseBytesMax });
  try {
    assert.equal(await worker.prepareRange(new Uint8Array([1, 8])), undefined);
  } finally {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the worker encodes pushes of whole ranges, and the receiving worker prepares them: the replicas converge', async () => {
  const dirA = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const dirB = mkdtempSync(join(tmpdir(), 'converge-serve-worker-'));
  const storageA = openLmdbStorage({ path: dirA, sync: 'none' });
  const storageB = openLmdbStorage({ path: dirB, sync: 'none' });
  const a = await openReplica({ id: 'a', storage: storageA, leafBits });
  const b = await openReplica({ id: 'b', storage: storageB, leafBits });
  const workerA = startRepairWorker({
    reader: lmdbReader(dirA),
    responseBytesMax,
    writeEpochs: a.shareWriteEpochs(),
  });
  const workerB = startRepairWorker({
    reader: lmdbReader(dirB),
    responseBytesMax,
    writeEpochs: b.shareWriteEpochs(),
  });
  try {
    await Promise.all([a.whenDigestReady(), b.whenDigestReady()]);
    await a.apply(
      Array.from({ length: 1_000 }, (_, i) =>
        makeRecord(
          keyToBytes(`key-${i}`),
          { ms: 100 + i, counter: 0, node: 'a' },
          i % 7 === 0 ? null : Buffer.from(`v${i}`),
        ),
      ),
      'client',
    );
    await a.flush();
    // Four ranges at level 2 cover the keyspace; pushes of at most 90 records, cursor to cursor.
    const ranges = [0, 1, 2, 3].map((index) => ({ level: 2, index }));
    const pushed: string[] = [];
    let from = 0;
    let after: RangeCursor | undefined;
    let pushes = 0;
    while (from < ranges.length) {
      const got = await workerA.pushBody(ranges.slice(from), after, 90);
      assert.ok(got !== undefined);
      assert.ok(got.records <= 90);
      const records = decodePushRequest(got.body);
      assert.equal(records.length, got.records);
      pushed.push(...records.map((r) => Buffer.from(r.key).toString()));
      const prepared = await workerB.preparePush(got.body);
      assert.ok(prepared !== undefined);
      assert.equal(prepared.records, got.records);
      await b.applyPrepared(prepared.prepared, 'anti-entropy');
      from += got.processed;
      after = got.next;
      pushes += 1;
    }
    assert.equal(pushes, Math.ceil(1_000 / 90));
    const inTokenOrder = [...a.scanTokens(new Uint8Array(0), undefined)].map((e) =>
      Buffer.from(e.record.key).toString(),
    );
    assert.deepEqual(pushed, inTokenOrder, 'every record once, in token order');
    await b.flush();
    assert.equal(b.digest.rootHex(), a.digest.rootHex());
    // Pushed again: everything loses to what is there now, nothing is written.
    const again = await workerB.preparePush((await workerA.pushBody(ranges, undefined, 2_000))!.body);
    assert.equal(again!.prepared.winners, 0);
    assert.equal(again!.prepared.losers, 1_000);
  } finally {
    await Promise.all([workerA.close(), workerB.close()]);
    await Promise.all([storageA.close(), storageB.close()]);
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});
