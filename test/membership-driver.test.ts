// The membership driver loop over real nodes on loopback HTTP (lmdb), with the in-memory membership of
// test/membership-harness.ts standing in for the membership service: a join under a write load, a driver
// restart mid-stream, a cancel while streaming, a decommission and a replace. After each: every key on
// exactly its partition's final owners, the old copies dropped, every acknowledged write readable.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import type { MembershipDriverSettings } from '../src/cluster/membership-driver-loop.js';
import { beginDecommission, beginJoin, beginReplace, type MembershipState } from '../src/core/membership.js';
import { eventually, startCluster } from './helpers.js';
import { MemoryMembership } from './membership-harness.js';

const ring = { partitions: 64, replicationFactor: 3 };
const settings = {
  partitions: String(ring.partitions),
  'replication-factor': String(ring.replicationFactor),
  'ae-interval': '300ms',
};
const fast: Partial<MembershipDriverSettings> = {
  cleanupGraceMs: 1500,
  tickMs: 100,
  streamingConcurrency: 2,
  partitionsPerSessionMax: 8,
  requestTimeoutMs: 20_000,
  streamTimeoutMs: 60_000,
};
const enc = new TextEncoder();
const dec = new TextDecoder();

function membership(cluster: LocalCluster, members: string[]): MemoryMembership {
  return new MemoryMembership(cluster, members, cluster.configs[0]!.leafBits, ring);
}

/** Writes `count` keys at quorum through the given nodes; returns the keys acknowledged. */
async function writeKeys(cluster: LocalCluster, via: string[], prefix: string, count: number) {
  const acked: string[] = [];
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const key = `${prefix}-${i + j}`;
        const node = cluster.node(via[(i + j) % via.length]!).ctx.node;
        await node.put(key, enc.encode(`v:${key}`), 'quorum');
        acked.push(key);
      }),
    );
  }
  return acked;
}

/** A steady write load (new keys, quorum) through `via` until stopped; returns what was acknowledged. */
function writeLoad(cluster: LocalCluster, via: string[], prefix: string) {
  let stopped = false;
  const acked: string[] = [];
  let failed = 0;
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const key = `${prefix}-${w}-${i}`;
      try {
        await cluster.node(via[(w + i) % via.length]!).ctx.node.put(key, enc.encode(`v:${key}`), 'quorum');
        acked.push(key);
      } catch {
        failed += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const loops = [0, 1, 2].map(loop);
  return {
    async stop(): Promise<{ acked: string[]; failed: number }> {
      stopped = true;
      await Promise.all(loops);
      return { acked, failed };
    },
  };
}

/** What is wrong with the placement: a partition held off its owners, or owners that differ. Null: none. */
function misplaced(cluster: LocalCluster, s: MembershipState, ids: string[]): string | null {
  const t = s.ring;
  for (let p = 0; p < t.partitions; p++) {
    const owners = t.replicasOf(p);
    const shown = new Set<string>();
    for (const id of ids) {
      const n = cluster.node(id).ctx.replica.digest.node(t.partitionBits, p);
      if (!owners.includes(id) && n.count > 0) return `${id} holds ${n.count} records of partition ${p}`;
      if (owners.includes(id)) shown.add(`${n.hi}:${n.lo}:${n.count}`);
    }
    if (shown.size > 1) return `the owners of partition ${p} differ`;
  }
  return null;
}

/** A quorum read, tried again when it fails (a busy machine may time a replica out); a miss is no failure. */
async function readQuorum(cluster: LocalCluster, via: string, key: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await cluster.node(via).ctx.node.get(key, 'quorum');
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function assertReadable(cluster: LocalCluster, via: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map(async (key) => {
        const r = await readQuorum(cluster, via, key);
        assert.ok(r.found, `${key} is readable at quorum`);
        assert.equal(dec.decode(r.value!), `v:${key}`);
      }),
    );
  }
}

async function droppedRecords(cluster: LocalCluster, id: string, reason: string): Promise<number> {
  const metric = cluster.node(id).ctx.registry.getSingleMetric('converge_membership_dropped_records_total');
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

async function settled(cluster: LocalCluster, m: MemoryMembership, ids: string[]): Promise<void> {
  await eventually(() => m.state.change === null, 180_000, 'the change to finish');
  await eventually(() => misplaced(cluster, m.state, ids) === null, 60_000, 'keys on exactly their owners');
}

test('a 4th node joins a 3-node ring under a write load: every key ends on exactly its final owners', async () => {
  const cluster = await startCluster({ nodes: 4, settings });
  try {
    const m = membership(cluster, ['n1', 'n2', 'n3']);
    const base = await writeKeys(cluster, ['n1', 'n2', 'n3'], 'base', 3000);
    const load = writeLoad(cluster, ['n1', 'n2', 'n3'], 'load');
    m.begin(beginJoin(m.state, 'n4'));
    const moving = m.state.change!.moves.length;
    const driver = m.driver('n1', fast);
    driver.start();
    try {
      await eventually(() => driver.view.progress() !== null, 60_000, 'streaming progress');
      await eventually(() => m.state.change === null, 180_000, 'the join to finish');
    } finally {
      await driver.stop();
    }
    const { acked } = await load.stop();
    assert.ok(acked.length > 0, 'the load wrote during the join');
    await settled(cluster, m, ['n1', 'n2', 'n3', 'n4']);
    assert.ok(m.state.ring.ownedBy('n4').length > 0, 'n4 owns partitions');
    assert.ok(moving > 0);
    // The old owners dropped what moved away (counted), after the grace.
    const dropped = await Promise.all(['n1', 'n2', 'n3'].map((id) => droppedRecords(cluster, id, 'cleanup')));
    assert.ok(
      dropped.reduce((a, b) => a + b, 0) > 0,
      `old copies dropped and counted: ${dropped.join(', ')}`,
    );
    await assertReadable(cluster, 'n4', [...base, ...acked]);
  } finally {
    await cluster.close();
  }
});

test('a driver stopped mid-stream is replaced by another that resumes from the installed state', async () => {
  const cluster = await startCluster({ nodes: 4, settings });
  try {
    const m = membership(cluster, ['n1', 'n2', 'n3']);
    const base = await writeKeys(cluster, ['n1', 'n2', 'n3'], 'base', 2000);
    m.begin(beginJoin(m.state, 'n4'));
    const slow = { ...fast, streamingConcurrency: 1, partitionsPerSessionMax: 2 };
    const first = m.driver('n1', slow);
    first.start();
    const some = (): boolean => {
      const moves = m.state.change?.moves ?? [];
      return moves.some((x) => x.state !== 'pending') && moves.some((x) => x.state === 'pending');
    };
    await eventually(some, 120_000, 'some partitions streamed, others still pending');
    await first.stop();
    const atStop = m.state;
    const second = m.driver('n2', fast);
    second.start();
    try {
      await eventually(() => m.state.change === null, 180_000, 'the join to finish after the restart');
    } finally {
      await second.stop();
    }
    assert.ok(m.state.epoch > atStop.epoch);
    await settled(cluster, m, ['n1', 'n2', 'n3', 'n4']);
    await assertReadable(cluster, 'n2', base);
  } finally {
    await cluster.close();
  }
});

test('a join cancelled while streaming leaves the ring as it was and discards the partial copies', async () => {
  const cluster = await startCluster({ nodes: 4, settings });
  try {
    const m = membership(cluster, ['n1', 'n2', 'n3']);
    const before = m.state.ring;
    const base = await writeKeys(cluster, ['n1', 'n2', 'n3'], 'base', 2000);
    // n3 does not report the new epochs: no partition can move, so the change stays cancellable.
    m.lagging.add('n3');
    m.begin(beginJoin(m.state, 'n4'));
    const driver = m.driver('n1', fast);
    driver.start();
    try {
      await eventually(
        () => cluster.node('n4').ctx.replica.digest.count() > 0,
        60_000,
        'n4 to receive part of its share',
      );
      const cancelled = await driver.cancel();
      assert.equal(cancelled.change, null);
    } finally {
      await driver.stop();
    }
    m.catchUp();
    for (let p = 0; p < before.partitions; p++)
      assert.deepEqual([...m.state.ring.replicasOf(p)], [...before.replicasOf(p)], `partition ${p}`);
    assert.ok(!m.state.members.some((x) => x.id === 'n4'), 'n4 is no member');
    await eventually(
      () => cluster.node('n4').ctx.replica.digest.count() === 0,
      30_000,
      'the partial copies discarded',
    );
    assert.ok((await droppedRecords(cluster, 'n4', 'discard')) > 0, 'the discard is counted');
    await eventually(
      () => misplaced(cluster, m.state, ['n1', 'n2', 'n3', 'n4']) === null,
      60_000,
      'placement',
    );
    await assertReadable(cluster, 'n1', base);
  } finally {
    await cluster.close();
  }
});

test('a decommission, then a replace of a dead member: data on the final owners, its hints dropped', async () => {
  const cluster = await startCluster({ nodes: 5, settings });
  try {
    const m = membership(cluster, ['n1', 'n2', 'n3', 'n4']);
    const base = await writeKeys(cluster, ['n1', 'n2', 'n3', 'n4'], 'base', 2000);
    m.begin(beginDecommission(m.state, 'n4'));
    const driver = m.driver('n1', fast);
    driver.start();
    try {
      await settled(cluster, m, ['n1', 'n2', 'n3', 'n4', 'n5']);
      assert.equal(cluster.node('n4').ctx.replica.digest.count(), 0, 'the leaver holds nothing');
      assert.deepEqual(
        m.state.members.map((x) => x.id),
        ['n1', 'n2', 'n3'],
      );
      // n3 dies; writes meanwhile leave hints for it; n5 takes its place.
      await cluster.stop('n3');
      m.downSet.add('n3');
      const during = await writeKeys(cluster, ['n1', 'n2'], 'during', 300);
      await eventually(
        () => (cluster.node('n1').ctx.node.ctx.hints?.pending('n3') ?? 0) > 0,
        30_000,
        'hints for n3',
      );
      m.begin(beginReplace(m.state, 'n3', 'n5'));
      await settled(cluster, m, ['n1', 'n2', 'n5']);
      assert.deepEqual(
        m.state.members.map((x) => x.id),
        ['n1', 'n2', 'n5'],
      );
      for (const id of ['n1', 'n2'])
        assert.equal(cluster.node(id).ctx.node.ctx.hints?.pending('n3') ?? 0, 0, `${id} dropped its hints`);
      await assertReadable(cluster, 'n5', [...base, ...during]);
    } finally {
      await driver.stop();
    }
  } finally {
    await cluster.close();
  }
});
