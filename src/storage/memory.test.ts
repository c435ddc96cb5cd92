import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryStorage } from './memory.js';
import { runStorageContract } from './storage-contract.js';

runStorageContract('memory', async () => ({
  storage: createMemoryStorage(),
  secondReader: false,
  reopen: undefined,
  cleanup: async () => {},
}));

const s = (text: string): Uint8Array => new TextEncoder().encode(text);

test('memory: a crash drops writes still in flight, keeps resolved ones', async () => {
  let release: () => void = () => {};
  let delayed = false;
  const storage = createMemoryStorage({
    writeDelay: () => (delayed ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve()),
  });
  await storage.write([{ key: s('kept'), value: s('1') }]);
  delayed = true;
  const inFlight = storage.write([{ key: s('lost'), value: s('2') }]);
  storage.crash();
  release();
  await assert.rejects(inFlight, /crashed/);
  assert.deepEqual(storage.get(s('kept')), s('1'));
  assert.equal(storage.get(s('lost')), undefined);
});

test('memory: power loss reverts un-fsynced writes under sync none only', async () => {
  const none = createMemoryStorage({ sync: 'none' });
  await none.write([{ key: s('a'), value: s('1') }]);
  none.flush();
  await none.write([
    { key: s('a'), value: s('2') },
    { key: s('b'), value: s('3') },
  ]);
  none.powerLoss();
  assert.deepEqual(none.get(s('a')), s('1'));
  assert.equal(none.get(s('b')), undefined);
  assert.equal([...none.scan(s(''), undefined)].length, 1);

  const group = createMemoryStorage({ sync: 'group' });
  await group.write([{ key: s('a'), value: s('1') }]);
  group.powerLoss();
  assert.deepEqual(group.get(s('a')), s('1'));
});
