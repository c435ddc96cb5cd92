// Anti-entropy per range on a partitioned ring: 5 nodes with RF 3 over the loopback transport. Sessions
// cover exactly the partitions two nodes share, move exactly the records a replica missed, and never a
// record of a partition the receiver does not hold; the tombstone watermark is per partition.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { type AntiEntropyProcess, createAntiEntropy } from '../src/antientropy/process.js';
import { eventually } from '../src/cluster/cluster-test-helpers.js';
import { TransportFaults } from '../src/cluster/faults.js';
import { LoopbackNetwork } from '../src/cluster/loopback-transport.js';
import { type ConvergeNode, createNode } from '../src/cluster/node.js';
import { tokenOf } from '../src/core/hash.js';
import { seededRandom } from '../src/core/random.js';
import { keyToBytes, makeRecord, type VersionedRecord } from '../src/core/record.js';
import { Topology } from '../src/core/topology.js';
import { LiveTopology } from '../src/core/topology-describe.js';
import { decodePushResponse, encodePushRequest } from '../src/core/wire-repair.js';
import { type LocalReplica, openReplica } from '../src/replica/replica.js';
import { systemClock, systemTimers } from '../src/runtime/system.js';
import { createMemoryStorage } from '../src/storage/memory.js';

interface Member {
  readonly id: string;
  readonly node: ConvergeNode;
  readonly replica: LocalReplica;
  readonly ae: AntiEntropyProcess;
  readonly registry: Registry;
}

const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** Per-partition coded symbols each node keeps (all partitions together); 0 keeps none. */
type SymbolBudgetOf = (id: string) => number;

async function ring(
  graceMs = 60_000,
  symbolBudgetOf: SymbolBudgetOf = () => 2 ** 14,
): Promise<{ members: Member[]; topology: LiveTopology; close(): Promise<void> }> {
  const network = new LoopbackNetwork();
  const topology = new LiveTopology(
    Topology.create({ members: ids, partitions: 32, replicationFactor: 3, leafBits: 8 }),
  );
  const members: Member[] = [];
  for (const [i, id] of ids.entries()) {
    const replica = await openReplica({
      id,
      storage: createMemoryStorage(),
      leafBits: 8,
      partitionBits: 5,
      partitionSymbolsBudget: symbolBudgetOf(id),
    });
    await replica.whenDigestReady();
    const transport = network.transport(id, new TransportFaults(seededRandom(i + 1)));
    const node = createNode({
      id,
      peers: ids.map((p) => ({ id: p, url: `loopback://${p}` })),
      replica,
      transport,
      clock: systemClock,
      random: seededRandom(10 + i),
      timers: systemTimers,
      mechanisms: { hints: false, readRepair: false, antiEntropy: true },
      tickMs: 20,
      limits: { requestTimeoutMs: 500 },
      topology,
    });
    const registry = new Registry();
    const ae = createAntiEntropy({
      node,
      replica,
      transport,
      peers: ids.filter((p) => p !== id),
      topology,
      clock: systemClock,
      random: seededRandom(20 + i),
      timers: systemTimers,
      registry,
      intervalMs: 60_000,
      enabled: true,
      tombstoneGraceMs: graceMs,
      limits: { entriesMax: 64 },
    });
    network.register(id, (route, body, from) => node.handleInternal(route, body, from));
    node.start();
    ae.start();
    members.push({ id, node, replica, ae, registry });
  }
  return {
    members,
    topology,
    close: async () => {
      for (const m of members) {
        await m.ae.stop();
        await m.node.close();
      }
    },
  };
}

const keyAt = (i: number): Uint8Array => keyToBytes(`key-${i}`);

async function notOwnedDropped(m: Member): Promise<number> {
  const metric = await m.registry.getSingleMetric('converge_ae_records_not_owned_dropped_total')?.get();
  return metric?.values[0]?.value ?? 0;
}

/**
 * Every key written to its replicas only, n4 missing every tenth key it holds; one round of n4's sessions
 * must bring exactly those, each session over its shared partitions, discovering them by `path`.
 */
async function missedWritesRepaired(
  symbolBudgetOf: SymbolBudgetOf,
  path: 'symbols' | 'symbols-then-tree' | 'tree',
): Promise<void> {
  const r = await ring(60_000, symbolBudgetOf);
  try {
    const t = r.topology.current;
    const byId = new Map(r.members.map((m) => [m.id, m]));
    const missed: VersionedRecord[] = [];
    for (let i = 0; i < 400; i++) {
      const record = makeRecord(keyAt(i), r.members[0]!.node.hlc.now(), new TextEncoder().encode(`v${i}`));
      for (const id of t.replicasForKey(record.key)) {
        if (id === 'n4' && i % 10 === 0) {
          missed.push(record);
          continue;
        }
        await byId.get(id)!.replica.apply([record], 'client');
      }
    }
    assert.ok(missed.length > 0);
    const n4 = byId.get('n4')!;
    const entries = await n4.ae.runNow();
    assert.deepEqual(entries.map((e) => e.peer).sort(), t.peersOf('n4'));
    for (const e of entries) {
      const shared = t.sharedPartitions('n4', e.peer);
      assert.equal(e.partitions, shared.length, `${e.peer}: the session covers the shared partitions`);
      assert.notEqual(e.range, 'all');
      assert.equal(e.discovery?.path, path, `${e.peer}: ${e.discovery?.reason}`);
    }
    const pulled = entries.reduce((sum, e) => sum + e.keysPulled, 0);
    const pushed = entries.reduce((sum, e) => sum + e.keysPushed, 0);
    assert.equal(pushed, 0, 'n4 held nothing its peers lacked');
    // A missed record is in a partition n4 shares with 2 peers; whichever session comes first brings it.
    assert.equal(pulled, missed.length, 'exactly the missed records moved');
    for (const rec of missed) assert.ok(n4.replica.get(rec.key) !== undefined);
    // Every replica of every key holds it, and no node holds a key of a partition it does not hold.
    for (const m of r.members) {
      for (let i = 0; i < 400; i++) {
        const holds = t.replicasForKey(keyAt(i)).includes(m.id);
        assert.equal(m.replica.get(keyAt(i)) !== undefined, holds, `${m.id} key-${i}`);
      }
      assert.equal(await notOwnedDropped(m), 0);
    }
    // A second round moves nothing.
    for (const m of r.members) {
      for (const e of await m.ae.runNow()) assert.equal(e.keysPulled + e.keysPushed, 0, `${m.id}-${e.peer}`);
    }
  } finally {
    await r.close();
  }
}

test('5 nodes, RF 3: scoped sessions take the symbol path and move exactly the missed records', async () => {
  await missedWritesRepaired(() => 2 ** 14, 'symbols');
});

test('5 nodes, RF 3, peers without per-partition symbols: the symbol path falls back', async () => {
  await missedWritesRepaired((id) => (id === 'n4' ? 2 ** 14 : 0), 'symbols-then-tree');
});

test('5 nodes, RF 3, no per-partition symbols: scoped sessions take the tree descent', async () => {
  await missedWritesRepaired(() => 0, 'tree');
});

test('a pushed record of a partition the receiver does not hold is dropped and counted, not written', async () => {
  const r = await ring();
  try {
    const t = r.topology.current;
    const n1 = r.members[0]!;
    const peer = t.peersOf('n1')[0]!;
    let i = 0;
    while (t.holds('n1', t.partitionOf(tokenOf(keyAt(i))))) i++;
    const foreign = makeRecord(keyAt(i), n1.node.hlc.now(), new TextEncoder().encode('x'));
    const reply = decodePushResponse(
      await n1.node.handleInternal('ae/msg', encodePushRequest([foreign]), peer),
    );
    assert.deepEqual(reply, { applied: 0, ignored: 1 });
    assert.equal(n1.replica.get(foreign.key), undefined);
    assert.equal(await notOwnedDropped(n1), 1);
  } finally {
    await r.close();
  }
});

test('the tombstone watermark is per partition: a stopped node holds back only the partitions it holds', async () => {
  const r = await ring(0);
  try {
    const t = r.topology.current;
    const byId = new Map(r.members.map((m) => [m.id, m]));
    // Delete one key in a partition n5 holds and one in a partition it does not, on their replicas.
    const pick = (withN5: boolean): Uint8Array => {
      for (let i = 0; ; i++) {
        const replicas = t.replicasForKey(keyAt(i));
        if (replicas.includes('n5') === withN5 && replicas.includes('n1')) return keyAt(i);
      }
    };
    const held = pick(true);
    const free = pick(false);
    for (const key of [held, free]) {
      const tomb = makeRecord(key, byId.get('n1')!.node.hlc.now(), null);
      for (const id of t.replicasForKey(key)) await byId.get(id)!.replica.apply([tomb], 'client');
    }
    // n5 is cut off: its sessions fail, so the pairs with n5 never pass the delete.
    const n5 = byId.get('n5')!;
    await n5.ae.stop();
    await n5.node.close();
    const others = r.members.filter((m) => m.id !== 'n5');
    await eventually(
      async () => {
        for (const m of others) await m.ae.runNow();
        for (const m of others) await m.ae.purgeOnce();
        return t.replicasForKey(free).every((id) => byId.get(id)!.replica.get(free) === undefined);
      },
      5000,
      'the tombstone of the partition n5 does not hold to be purged',
    );
    for (const id of t.replicasForKey(held)) {
      if (id === 'n5') continue;
      assert.equal(byId.get(id)!.replica.get(held)?.tombstone, true, `${id} keeps the tombstone n5 may lack`);
    }
  } finally {
    await r.close();
  }
});

test('a checkpoint of another ring epoch or range is discarded; one of the same range resumes', async () => {
  const r = await ring();
  try {
    const n1 = r.members[0]!;
    const peer = r.topology.current.peersOf('n1')[0]!;
    const range = n1.ae.runner.rangeWith(peer);
    const base = {
      id: 'n1-old',
      peer,
      startedAtMs: Date.now() - 1000,
      salt: 1,
      counts: {
        keysCompared: 0,
        keysDivergent: 0,
        keysPulled: 0,
        keysPushed: 0,
        bytesSent: 0,
        bytesReceived: 0,
        roundTrips: 0,
      },
      frontier: Buffer.from(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toString('base64'),
      partitions: range.partitions,
    };
    await n1.ae.state.saveCheckpoint({ ...base, epoch: range.epoch + 1 });
    const [stale] = await n1.ae.runNow(peer);
    assert.equal(stale!.resumed, false, 'another epoch: a fresh session');
    assert.notEqual(stale!.id, 'n1-old');
    await n1.ae.state.saveCheckpoint({ ...base, epoch: range.epoch });
    const [resumed] = await n1.ae.runNow(peer);
    assert.equal(resumed!.resumed, true, 'the same epoch and partitions: resumed');
    assert.equal(resumed!.id, 'n1-old');
  } finally {
    await r.close();
  }
});
