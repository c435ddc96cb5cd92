// The membership driver loop over real nodes on loopback HTTP (lmdb), with the in-memory membership of
// test/membership-harness.ts standing in for the membership service. After each change: every key on
// exactly its partition's final owners, the old copies dropped, every acknowledged write readable.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { beginJoin } from '../src/core/membership.js';
import { eventually, startCluster } from './helpers.js';
import {
  assertReadable,
  droppedRecords,
  fast,
  membership,
  readQuorum,
  settings,
  settled,
  writeKeys,
  writeLoad,
} from './membership-harness.js';

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
    // Deletes during the join too: a deleted key must not come back from a copy that moved or was dropped.
    const deleted = base.slice(0, 300);
    try {
      await eventually(() => driver.view.progress() !== null, 60_000, 'streaming progress');
      await deleteKeys(cluster, ['n1', 'n2', 'n3'], deleted);
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
    await assertReadable(cluster, 'n4', [...base.slice(300), ...acked]);
    await assertDeleted(cluster, 'n2', deleted);
  } finally {
    await cluster.close();
  }
});

/** Deletes the keys at quorum (each retried until acknowledged). */
async function deleteKeys(cluster: LocalCluster, via: string[], keys: readonly string[]): Promise<void> {
  for (const [i, key] of keys.entries()) {
    for (let attempt = 0; ; attempt++) {
      try {
        await cluster.node(via[i % via.length]!).ctx.node.del(key, 'quorum');
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  }
}

async function assertDeleted(cluster: LocalCluster, via: string, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    const r = await readQuorum(cluster, via, key);
    assert.equal(r.found, false, `${key} stays deleted`);
  }
}

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
