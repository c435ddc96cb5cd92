import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FillableStorage } from './fillable.js';
import { GuardedStorage } from './guarded.js';
import { createMemoryStorage } from './memory.js';
import { runStorageContract } from './storage-contract.js';

runStorageContract('guarded memory', async () => ({
  storage: new GuardedStorage(createMemoryStorage(), { now: () => Date.now() }),
  secondReader: false,
  reopen: undefined,
  cleanup: async () => {},
}));

const s = (text: string): Uint8Array => new TextEncoder().encode(text);

test('guarded: a failed write refuses the next ones without trying until the retry time, then tries again', async () => {
  let nowMs = 1000;
  const disk = new FillableStorage();
  const begins: boolean[] = [];
  const recoveredAfter: number[] = [];
  const storage = new GuardedStorage(disk, {
    now: () => nowMs,
    retryMs: 500,
    onFailure: (_e, first) => begins.push(first),
    onRecovery: (ms) => recoveredAfter.push(ms),
  });
  await storage.write([{ key: s('a'), value: s('1') }]);
  assert.equal(storage.health().state, 'ok');
  disk.full = true;
  await assert.rejects(storage.write([{ key: s('b'), value: s('2') }]), { code: 'DISK_FULL' });
  assert.equal(disk.commits, 2);
  assert.deepEqual(
    { state: storage.health().state, code: storage.health().code, sinceMs: storage.health().sinceMs },
    { state: 'failing', code: 'DISK_FULL', sinceMs: 1000 },
  );
  // Within the retry time: refused at once, the disk is not asked.
  nowMs += 499;
  assert.equal(storage.writeRefusal()?.code, 'DISK_FULL');
  await assert.rejects(storage.write([{ key: s('c'), value: s('3') }]), { code: 'DISK_FULL' });
  assert.equal(disk.commits, 2);
  assert.equal(storage.health().refused, 1);
  // Due: tried again, still full; the failing period keeps its start.
  nowMs += 1;
  assert.equal(storage.writeRefusal(), undefined);
  await assert.rejects(storage.write([{ key: s('d'), value: s('4') }]), { code: 'DISK_FULL' });
  assert.equal(disk.commits, 3);
  assert.equal(storage.health().sinceMs, 1000);
  assert.deepEqual(begins, [true, false]);
  // Space freed: the next due write succeeds and ends the condition by itself.
  disk.full = false;
  nowMs += 500;
  await storage.write([{ key: s('e'), value: s('5') }]);
  assert.deepEqual(storage.get(s('e')), s('5'));
  assert.equal(storage.get(s('b')), undefined, 'nothing of a failed write was applied');
  assert.equal(storage.health().state, 'ok');
  assert.equal(storage.health().recoveries, 1);
  assert.deepEqual(recoveredAfter, [1000]);
  // Reads never stopped.
  assert.deepEqual(storage.get(s('a')), s('1'));
});

test('guarded: a write after close fails without turning the storage to failing', async () => {
  const storage = new GuardedStorage(createMemoryStorage(), { now: () => Date.now() });
  await storage.close();
  await assert.rejects(storage.write([{ key: s('late'), value: s('1') }]), { code: 'STORAGE_FAILED' });
  assert.equal(storage.health().state, 'ok');
  assert.equal(storage.health().failures, 0);
});
