// A change whose driver dies, on real nodes (lmdb, HTTP on 127.0.0.1): once the driver has been unreachable
// for --membership-takeover-after, the lowest normal member still up takes the change over (a new epoch
// reserved at a majority) and runs it to its end without the dead member; the old driver, back later,
// drives nothing (its steps are refused), installs the later state and removes the copies it no longer owns.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import type { MembersView } from '../src/cluster/membership-api.js';
import { resolveConfig } from '../src/config/config.js';
import type { MembershipState } from '../src/core/membership.js';
import { type RunningNode, startNode } from '../src/server/server.js';
import { eventually, http, startCluster } from './helpers.js';

const settings = {
  partitions: '16',
  'replication-factor': '3',
  'ae-interval': '500ms',
  sync: 'none',
  'ae-serve-worker': false,
  'membership-tick': '200ms',
  'membership-cleanup-grace': '8s',
  'membership-takeover-after': '2s',
  'membership-partitions-per-session': '2',
};

const members = async (url: string): Promise<MembersView> =>
  (await http('GET', `${url}/cluster/members`)).json as MembersView;

function startN4(cluster: LocalCluster): Promise<RunningNode> {
  const port = cluster.configs[0]!.listen.port + 3;
  const config = resolveConfig(
    { 'leaf-bits': '16', 'log-level': 'warn', ...settings },
    { id: 'n4', listen: `127.0.0.1:${port}`, data: join(cluster.dataRoot, 'n4'), join: cluster.url('n1') },
  );
  return startNode({ config });
}

function stateOf(node: RunningNode): MembershipState {
  const m = node.ctx.services.membership;
  assert.ok(m !== undefined, 'the node runs a membership service');
  return m.current();
}

/** A partition held by a node that does not own it under `s` (null: none). */
function misplaced(nodes: Map<string, RunningNode>, s: MembershipState): string | null {
  for (let p = 0; p < s.ring.partitions; p++) {
    const owners = s.ring.replicasOf(p);
    for (const [id, node] of nodes) {
      if (!node.ctx.services.replica.digestReady) return `${id}'s digest is being rebuilt`;
      const n = node.ctx.services.replica.digest.node(s.ring.partitionBits, p);
      if (!owners.includes(id) && n.count > 0) return `${id} holds ${n.count} records of partition ${p}`;
    }
  }
  return null;
}

test('a change whose driver dies is taken over by another member and finished; the old driver is fenced', async () => {
  const cluster = await startCluster({ nodes: 3, settings });
  let n4: RunningNode | undefined;
  try {
    const keys = Array.from({ length: 1500 }, (_, i) => `k-${i}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(
        keys.slice(i, i + 100).map(async (k) => {
          const res = await http('PUT', `${cluster.url('n1')}/kv/${k}?consistency=all`, `v:${k}`);
          assert.equal(res.status, 200, res.body);
        }),
      );
    }
    n4 = await startN4(cluster);
    await eventually(
      async () => (await members(cluster.url('n2'))).change !== null,
      60_000,
      'the join on n2',
    );
    // The driver dies while the change runs (its cleanup grace alone keeps it running for 8 s at least).
    await cluster.stop('n1');
    const during = await members(cluster.url('n2'));
    assert.notEqual(during.change, null, 'the change is still in progress');
    assert.equal(during.driver, 'n1');

    await eventually(
      async () => (await members(cluster.url('n2'))).driver === 'n2',
      60_000,
      'n2 (the lowest normal member up) to take the change over',
    );
    const urls = [cluster.url('n2'), cluster.url('n3'), n4.url];
    await eventually(
      async () => (await Promise.all(urls.map(members))).every((v) => v.change === null),
      180_000,
      'the change to finish without n1',
    );
    const final = stateOf(cluster.node('n2'));
    assert.deepEqual(
      final.members.map((m) => [m.id, m.state]),
      ['n1', 'n2', 'n3', 'n4'].map((id) => [id, 'normal']),
    );
    const up = new Map([
      ['n2', cluster.node('n2')],
      ['n3', cluster.node('n3')],
      ['n4', n4],
    ]);
    await eventually(() => misplaced(up, final) === null, 60_000, 'every partition on its owners only');

    // The old driver comes back: it drives nothing, takes the later state, and cleans up on its own.
    await cluster.start('n1');
    await eventually(() => stateOf(cluster.node('n1')).epoch >= final.epoch, 60_000, 'n1 to catch up');
    assert.equal(cluster.node('n1').ctx.services.membership?.drives(), false, 'n1 does not drive');
    up.set('n1', cluster.node('n1'));
    await eventually(() => misplaced(up, final) === null, 120_000, 'n1 to remove what moved away from it');
    for (const k of keys.filter((_, i) => i % 25 === 0)) {
      const res = await http('GET', `${cluster.url('n3')}/kv/${k}?consistency=quorum`);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, `v:${k}`);
    }
  } finally {
    await n4?.stop();
    await cluster.close();
  }
});

test('a driver cut off (not dead) is taken over; it installs nothing meanwhile, and no two states fork', async () => {
  const cluster = await startCluster({ nodes: 3, settings });
  try {
    for (let i = 0; i < 600; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          const res = await http('PUT', `${cluster.url('n2')}/kv/c-${i + j}?consistency=all`, 'v');
          assert.equal(res.status, 200, res.body);
        }),
      );
    }
    await cluster.join('n4');
    await eventually(
      async () => (await members(cluster.url('n2'))).change !== null,
      60_000,
      'the join on n2',
    );
    // n1, the driver, is isolated both ways: it runs on, but reaches no member and no member reaches it.
    await cluster.isolate('n1');
    const cutOff = stateOf(cluster.node('n1')).epoch;
    await eventually(
      async () => (await members(cluster.url('n2'))).driver === 'n2',
      60_000,
      'n2 to take the change over',
    );
    const urls = ['n2', 'n3', 'n4'].map((id) => cluster.url(id));
    await eventually(
      async () => (await Promise.all(urls.map(members))).every((v) => v.change === null),
      180_000,
      'the change to finish without n1',
    );
    // Cut off, n1 could not get a majority for any step after the moment it was isolated (one in flight then
    // may have landed): it never installed anything the others did not.
    const isolatedEpoch = stateOf(cluster.node('n1')).epoch;
    assert.ok(isolatedEpoch <= cutOff + 1, `n1 went from ${cutOff} to ${isolatedEpoch} while cut off`);
    await cluster.heal();
    const header = (id: string) => cluster.node(id).ctx.services.membership!.header();
    await eventually(
      () => new Set(['n1', 'n2', 'n3', 'n4'].map(header)).size === 1,
      60_000,
      'every member to install one and the same state',
    );
    assert.equal(cluster.node('n1').ctx.services.membership?.drives(), false, 'n1 does not drive');
    const final = stateOf(cluster.node('n1'));
    assert.equal(final.change, null);
    const all = new Map(['n1', 'n2', 'n3', 'n4'].map((id) => [id, cluster.node(id)]));
    await eventually(() => misplaced(all, final) === null, 120_000, 'every partition on its owners only');
  } finally {
    await cluster.close();
  }
});
