// The membership driver loop over real nodes on loopback HTTP (lmdb), with the in-memory membership of
// test/membership-harness.ts standing in for the membership service. After each change: every key on
// exactly its partition's final owners, the old copies dropped, every acknowledged write readable.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beginDecommission, beginJoin, beginReplace } from '../src/core/membership.js';
import { eventually, startCluster } from './helpers.js';
import {
  assertReadable,
  droppedRecords,
  fast,
  membership,
  misplaced,
  settings,
  settled,
  writeKeys,
} from './membership-harness.js';

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

test('the new owner stopped mid-stream and restarted: its partitions stall meanwhile, then the join ends', async () => {
  const cluster = await startCluster({ nodes: 4, settings });
  try {
    const m = membership(cluster, ['n1', 'n2', 'n3']);
    const base = await writeKeys(cluster, ['n1', 'n2', 'n3'], 'base', 2000);
    m.begin(beginJoin(m.state, 'n4'));
    const driver = m.driver('n1', { ...fast, streamingConcurrency: 1, partitionsPerSessionMax: 2 });
    driver.start();
    try {
      await eventually(
        () => cluster.node('n4').ctx.replica.digest.count() > 0,
        60_000,
        'n4 to receive part of its share',
      );
      await cluster.stop('n4');
      m.downSet.add('n4');
      await eventually(() => driver.view.stalled().length > 0, 30_000, 'the partitions of n4 stalled');
      assert.match(driver.view.stalled()[0]!.reason, /new owner n4 is down/);
      await cluster.start('n4');
      m.respread();
      m.downSet.delete('n4');
      await settled(cluster, m, ['n1', 'n2', 'n3', 'n4']);
    } finally {
      await driver.stop();
    }
    assert.ok(m.state.ring.ownedBy('n4').length > 0);
    await assertReadable(cluster, 'n4', base);
  } finally {
    await cluster.close();
  }
});
