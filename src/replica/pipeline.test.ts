// The replica's storage pipeline: the next batch is written while the previous one is still being made
// durable, and every apply is answered only once its own batch is durable.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DigestTree } from '../core/digest.js';
import { ConvergeError } from '../core/errors.js';
import { keyToBytes, makeRecord, type VersionedRecord } from '../core/record.js';
import { createMemoryStorage } from '../storage/memory.js';
import type { Storage, StorageEntry, WriteOp } from '../storage/storage.js';
import { LocalReplica } from './replica.js';

/**
 * A storage whose writes become durable, or fail, when the test says. They apply when called (in order), or,
 * with `applyWhenDurable`, only when the test makes them durable (a slow disk: the simulation's).
 */
class HeldStorage implements Storage {
  readonly engine = 'held';
  readonly inner = createMemoryStorage();
  readonly held: Array<{ ops: readonly WriteOp[]; durable: () => void; fail: (err: unknown) => void }> = [];

  constructor(private readonly applyWhenDurable = false) {}

  get(key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(key);
  }

  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry> {
    return this.inner.scan(start, end, limit);
  }

  write(ops: readonly WriteOp[]): Promise<void> {
    const late = this.applyWhenDurable;
    const applied = late ? undefined : this.inner.write(ops);
    return new Promise((resolve, reject) => {
      const durable = (): void => void (applied ?? this.inner.write(ops)).then(resolve, reject);
      this.held.push({ ops, durable, fail: reject });
    });
  }

  /** No second reader: the test needs none. */
  readerSpec(): null {
    return null;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const rec = (key: string, ms: number, value: string): VersionedRecord =>
  makeRecord(keyToBytes(key), { ms, counter: 0, node: 'a' }, keyToBytes(value));

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function replicaOver(storage: Storage, storageWritesInFlightMax?: number): Promise<LocalReplica> {
  const replica = new LocalReplica({
    id: 'a',
    storage,
    leafBits: 4,
    yieldNow: async () => {},
    ...(storageWritesInFlightMax === undefined ? {} : { storageWritesInFlightMax }),
  });
  await replica.rebuild();
  return replica;
}

function answered<T>(p: Promise<T>): { done: boolean; promise: Promise<T> } {
  const state = { done: false, promise: p };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
}

test('replica: the next batch is written before the previous one is durable; each apply waits for its own', async () => {
  const storage = new HeldStorage();
  const replica = await replicaOver(storage);
  const first = answered(replica.apply([rec('k1', 1, 'a')], 'client'));
  await turn();
  const second = answered(replica.apply([rec('k2', 1, 'b')], 'client'));
  await turn();
  assert.equal(storage.held.length, 2, 'the second batch went to storage before the first was durable');
  assert.equal(first.done || second.done, false, 'nothing is answered before it is durable');
  storage.held[1]!.durable();
  await second.promise;
  assert.equal(first.done, false, 'the first apply still waits for its own batch');
  storage.held[0]!.durable();
  await first.promise;
  assert.equal(replica.get(keyToBytes('k1'))?.value?.length, 1);
  assert.equal(replica.stats().pending, 0);
});

test('replica: with one write in flight the next batch waits for the previous one to be durable', async () => {
  const storage = new HeldStorage();
  const replica = await replicaOver(storage, 1);
  const first = replica.apply([rec('k1', 1, 'a')], 'client');
  await turn();
  const second = replica.apply([rec('k2', 1, 'b')], 'client');
  const third = replica.apply([rec('k3', 1, 'c')], 'client');
  await turn();
  assert.equal(storage.held.length, 1);
  storage.held[0]!.durable();
  await first;
  await turn();
  assert.equal(storage.held.length, 2, 'the two later applies share one batch');
  assert.equal(storage.held[1]!.ops.length, 2);
  storage.held[1]!.durable();
  await Promise.all([second, third]);
});

test('replica: a failed write fails those in flight beside it, refuses applies until they settle; digest == storage', async () => {
  const storage = new HeldStorage();
  const replica = await replicaOver(storage);
  const first = answered(replica.apply([rec('k1', 1, 'a')], 'client'));
  await turn();
  const second = answered(replica.apply([rec('k2', 1, 'b')], 'client'));
  await turn();
  storage.held[0]!.fail(new ConvergeError('DISK_FULL', 'full (test)'));
  await assert.rejects(first.promise, { code: 'DISK_FULL' });
  await assert.rejects(second.promise, { code: 'DISK_FULL' }, 'failed with it, whatever storage does');
  await assert.rejects(replica.apply([rec('k3', 1, 'c')], 'client'), { code: 'STORAGE_FAILED' });
  // The second write lands after all (it was already in storage's hands): the digest must count it.
  storage.held[1]!.durable();
  // Rebuilds: the first at the start, one at the failure, one once the second write has settled.
  for (let i = 0; i < 100 && replica.rebuilds < 3; i++) await turn();
  assert.equal(replica.rebuilds, 3);
  await replica.whenDigestReady();
  const rebuilt = await replicaOver(storage.inner);
  assert.deepEqual(replica.digest.root(), rebuilt.digest.root());
  const after = replica.apply([rec('k3', 1, 'c')], 'client');
  await turn();
  storage.held[2]!.durable();
  await after;
});

/** Whenever the replica says its digest is ready, it must equal one computed from its records. */
function assertDigestTrue(replica: LocalReplica, when: string): void {
  if (!replica.digestReady) return;
  const counted = new DigestTree(replica.digest.leafBits);
  for (const { token, record } of replica.scanTokens(new Uint8Array(0), undefined))
    counted.update(token, null, record.fp);
  assert.equal(replica.digest.rootHex(), counted.rootHex(), `digest ready and true ${when}`);
}

// Simulation seed 1257: a full disk failed one write while earlier ones were still reaching a slow disk. The
// digest was rebuilt at once and said it was ready; then those earlier writes landed, uncounted.
test('replica: writes that land after a failed one beside them are never missing from a ready digest', async () => {
  const storage = new HeldStorage(true);
  const replica = await replicaOver(storage);
  const applies = ['k1', 'k2', 'k3'].map((k) => answered(replica.apply([rec(k, 1, k)], 'client')));
  for (let i = 0; i < 100 && storage.held.length < 3; i++) await turn();
  assert.equal(storage.held.length, 3, 'three writes in flight');
  storage.held[2]!.fail(new ConvergeError('DISK_FULL', 'full (test)'));
  for (const a of applies) await assert.rejects(a.promise, { code: 'DISK_FULL' });
  assertDigestTrue(replica, 'after the failure');
  // The first straggler lands; the second is still on its way.
  storage.held[0]!.durable();
  for (let i = 0; i < 10; i++) await turn();
  assertDigestTrue(replica, 'after one straggler landed');
  await assert.rejects(replica.apply([rec('k4', 1, 'd')], 'client'), { code: 'STORAGE_FAILED' });
  storage.held[1]!.durable();
  await replica.whenDigestReady();
  assertDigestTrue(replica, 'once every straggler settled');
  assert.ok(replica.get(keyToBytes('k2')), 'the straggler that landed is there');
});
