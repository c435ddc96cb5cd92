// The acceptance suite every storage engine runs: `runStorageContract(name, setup)` in a few lines per
// engine.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStorageReader } from './engines.js';
import type { Storage, StorageEntry } from './storage.js';

export interface StorageFixture {
  readonly storage: Storage;
  /** Whether the engine offers a second reader to another thread (Storage.readerSpec). */
  readonly secondReader: boolean;
  /** Closes and opens the same data again, or undefined for engines without persistence. */
  readonly reopen: (() => Promise<Storage>) | undefined;
  readonly cleanup: () => Promise<void>;
}

const b = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);
const s = (text: string): Uint8Array => new TextEncoder().encode(text);
const keysOf = (entries: Iterable<StorageEntry>): string[] =>
  [...entries].map((e) => Buffer.from(e.key).toString('hex'));

type ContractCase = readonly [title: string, body: (f: StorageFixture) => Promise<void>];

/** What every engine does with its own handle. */
const cases: readonly ContractCase[] = [
  [
    // The replica writes its next batch while the previous one is flushed, and relies on this order.
    'writes in flight at once land in the order they were called',
    async ({ storage }) => {
      const writes = Array.from({ length: 20 }, (_, i) =>
        storage.write([
          { key: s('same'), value: s(String(i)) },
          { key: s(`k${i}`), value: i % 2 === 0 ? s('x') : null },
        ]),
      );
      await Promise.all(writes);
      assert.deepEqual(storage.get(s('same')), s('19'));
      assert.deepEqual(storage.get(s('k18')), s('x'));
      assert.equal(storage.get(s('k19')), undefined);
    },
  ],

  [
    'get returns what was written, undefined otherwise',
    async ({ storage }) => {
      await storage.write([{ key: s('a'), value: s('1') }]);
      assert.deepEqual(storage.get(s('a')), s('1'));
      assert.equal(storage.get(s('b')), undefined);
    },
  ],

  [
    'scan is in byte order with bounds and limit, binary keys included',
    async ({ storage }) => {
      const keys = [b(0xff), b(0x00), b(0x01, 0x00), b(0x01), b(0x7f, 0xff), b(0x80)];
      await storage.write(keys.map((key) => ({ key, value: b(1) })));
      assert.deepEqual(keysOf(storage.scan(b(0x00), undefined)), ['00', '01', '0100', '7fff', '80', 'ff']);
      assert.deepEqual(keysOf(storage.scan(b(0x01), b(0x80))), ['01', '0100', '7fff']);
      assert.deepEqual(keysOf(storage.scan(b(0x01), undefined, 2)), ['01', '0100']);
      assert.deepEqual(keysOf(storage.scan(b(0x81), b(0xfe))), []);
    },
  ],

  [
    'deletes remove entries; deleting a missing key is harmless',
    async ({ storage }) => {
      await storage.write([
        { key: s('a'), value: s('1') },
        { key: s('b'), value: s('2') },
      ]);
      await storage.write([
        { key: s('a'), value: null },
        { key: s('zz'), value: null },
      ]);
      assert.equal(storage.get(s('a')), undefined);
      assert.deepEqual(keysOf(storage.scan(s(''), undefined)), [Buffer.from('b').toString('hex')]);
    },
  ],

  [
    'empty values are kept as empty, not as missing',
    async ({ storage }) => {
      await storage.write([{ key: s('e'), value: new Uint8Array(0) }]);
      assert.deepEqual(storage.get(s('e')), new Uint8Array(0));
    },
  ],

  [
    'values handed out are not changed by later writes',
    async ({ storage }) => {
      const value = s('before');
      await storage.write([{ key: s('k'), value }]);
      value[0] = 0x58;
      const read = storage.get(s('k'));
      assert.deepEqual(read, s('before'));
      const scanned = [...storage.scan(s('k'), undefined)];
      await storage.write([{ key: s('k'), value: s('after!') }]);
      assert.deepEqual(scanned[0]?.value, s('before'));
    },
  ],

  [
    'a large batch applies whole',
    async ({ storage }) => {
      const ops = Array.from({ length: 5000 }, (_, i) => ({
        key: s(`key-${String(i).padStart(5, '0')}`),
        value: s(`v${i}`),
      }));
      await storage.write(ops);
      assert.equal([...storage.scan(s('key-'), s('key.'))].length, 5000);
      assert.deepEqual(storage.get(s('key-04999')), s('v4999'));
    },
  ],

  [
    'data survives close and reopen',
    async (fixture) => {
      if (fixture.reopen === undefined) return; // engines without persistence have nothing to reopen
      await fixture.storage.write([{ key: s('p'), value: s('persisted') }]);
      const again = await fixture.reopen();
      assert.deepEqual(again.get(s('p')), s('persisted'));
    },
  ],
  [
    'reads are synchronous and scan iterates one snapshot',
    async ({ storage }) => {
      await storage.write([1, 2, 3].map((i) => ({ key: b(i), value: b(i) })));
      const read: unknown = storage.get(b(1));
      assert.ok(read instanceof Uint8Array, 'get answers at once, not with a promise');
      const it = storage.scan(b(0), undefined)[Symbol.iterator]();
      assert.deepEqual(it.next().value?.key, b(1));
      // Resolved while the scan is half-way: the rest of the scan does not show it.
      await storage.write([
        { key: b(2), value: null },
        { key: b(4), value: b(4) },
      ]);
      const rest = [];
      for (let r = it.next(); !r.done; r = it.next()) rest.push(Buffer.from(r.value.key).toString('hex'));
      assert.deepEqual(rest, ['02', '03']);
    },
  ],
];

/** A second reader on the same data, as the repair worker's thread opens it. */
const readerCases: readonly ContractCase[] = [
  [
    'a second reader sees what was committed, and later commits once it renews',
    async ({ storage }) => {
      await storage.write([{ key: s('a'), value: s('1') }]);
      const spec = storage.readerSpec();
      assert.ok(spec !== null, 'the engine names how a second reader opens it');
      const reader = openStorageReader(spec);
      try {
        assert.deepEqual(reader.get(s('a')), s('1'));
        await storage.write([{ key: s('b'), value: s('2') }]);
        reader.renewReads();
        assert.deepEqual(reader.get(s('b')), s('2'));
        assert.deepEqual(keysOf(reader.scan(s(''), undefined)), ['61', '62']);
      } finally {
        await reader.close();
      }
    },
  ],
];

export function runStorageContract(name: string, setup: () => Promise<StorageFixture>): void {
  const run = (title: string, body: (f: StorageFixture) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const fixture = await setup();
      try {
        await body(fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };
  for (const [title, body] of cases) run(title, body);
  // An engine without a second reader says so, and its node does repair's bulk work on the event loop.
  run('a second reader is offered exactly when the engine says so', async ({ storage, secondReader }) => {
    assert.equal(storage.readerSpec() !== null, secondReader);
  });
  // Run for every engine (the fixture says at setup whether it has a reader); without one they have nothing
  // to check beyond the case above.
  for (const [title, body] of readerCases) run(title, async (f) => (f.secondReader ? body(f) : undefined));
}
