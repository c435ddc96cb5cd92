import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenHi, tokenOf } from '../core/hash.js';
import { PartitionSymbols } from '../core/partition-symbols.js';
import { keyToBytes, makeRecord } from '../core/record.js';
import { createMemoryStorage } from '../storage/memory.js';
import type { Storage } from '../storage/storage.js';
import type { LocalReplica } from './replica.js';
import { openReplica } from './replica.js';
import { DigestVerifier } from './verify.js';

const partitionBits = 3;

async function ready(storage: Storage): Promise<LocalReplica> {
  const replica = await openReplica({
    id: 'a',
    storage,
    leafBits: 6,
    partitionBits,
    partitionSymbolsBudget: 8 * 128,
    yieldNow: async () => {},
    rebuildSliceRecords: 7,
  });
  await replica.whenDigestReady();
  return replica;
}

/** Per-partition symbols built from scratch from what the replica holds. */
function fromRecords(replica: LocalReplica): PartitionSymbols {
  const fresh = new PartitionSymbols(partitionBits, 128);
  for (const { token, record } of replica.scanTokens(new Uint8Array(8), undefined)) {
    fresh.update(token, null, record.fp);
  }
  return fresh;
}

test('replica: per-partition symbols follow applies and rebuilds; verification repairs drift', async () => {
  const storage = createMemoryStorage();
  const replica = await ready(storage);
  assert.equal(replica.partitionSymbols?.size, 128, 'the budget split over 8 partitions');
  const records = Array.from({ length: 300 }, (_, i) =>
    makeRecord(keyToBytes(`s${i}`), { ms: 5, counter: 0, node: 'a' }, keyToBytes(`v${i}`)),
  );
  await replica.apply(records, 'client');
  await replica.apply(
    records.slice(0, 50).map((r) => makeRecord(r.key, { ms: 6, counter: 0, node: 'a' }, null)),
    'client',
  );
  await replica.flush();
  const parts = replica.partitionSymbols!;
  assert.ok(parts.equals(fromRecords(replica)), 'maintained = built from the records');
  const all = Array.from({ length: 8 }, (_, p) => p);
  assert.equal(parts.count(all), 300);
  const p0 = records.filter((r) => parts.partitionOf(tokenHi(tokenOf(r.key))) === 0).length;
  assert.equal(parts.count([0]), p0);
  const rebuilt = await ready(storage);
  assert.ok(rebuilt.partitionSymbols!.equals(parts), 'a rebuild from storage gives the maintained symbols');
  // Drift planted in one partition: the next pass finds it and restores what the records give, also with a
  // write landing while it runs.
  parts.toggle(5, 123, 456, 1);
  const found: string[] = [];
  let wrote = false;
  const verifier = new DigestVerifier({
    replica,
    clock: { now: () => 0 },
    timers: {
      sleep: async () => {
        const shadow = replica.symbolShadow;
        if (shadow !== null && shadow.leafEnd > 30 && !wrote) {
          wrote = true;
          const during = makeRecord(keyToBytes('during'), { ms: 7, counter: 0, node: 'a' }, keyToBytes('x'));
          await replica.apply([during], 'client');
        }
      },
      schedule: () => () => {},
    },
    recordsPerSecondMax: 500,
    passIntervalMs: 1,
    onMismatch: (m) => found.push(m.kind),
  });
  await verifier.pass();
  assert.deepEqual(found, ['symbol-drift']);
  assert.ok(wrote);
  assert.ok(parts.equals(fromRecords(replica)), 'the pass restores the symbols the records give');
  assert.equal(await verifier.pass(), 0, 'a second pass finds nothing');
});

test('replica: no per-partition symbols with one partition or a zero budget', async () => {
  const one = await openReplica({ id: 'a', storage: createMemoryStorage(), leafBits: 6, partitionBits: 0 });
  assert.equal(one.partitionSymbols, undefined);
  const none = await openReplica({
    id: 'b',
    storage: createMemoryStorage(),
    leafBits: 6,
    partitionBits: 3,
    partitionSymbolsBudget: 0,
  });
  assert.equal(none.partitionSymbols, undefined);
});
