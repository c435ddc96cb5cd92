// A cancelled change's partial copies on real nodes (lmdb, HTTP on 127.0.0.1): the member that would have
// gained partitions stores what it must discard when it installs the cancel, and removes it after the
// cleanup grace itself, even when the driver is gone and the member restarts between the cancel and the
// cleanup.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import type { MembersView } from '../src/cluster/membership-api.js';
import { decodeDiscards, discardsMetaName, type PendingDiscard } from '../src/cluster/membership-discards.js';
import { resolveConfig } from '../src/config/config.js';
import { type RunningNode, startNode } from '../src/server/server.js';
import { eventually, http, startCluster } from './helpers.js';

// The driver plans once at start and then not for an hour: nothing but this node's own list can discard the
// copies (the driver's one attempt at a cancel is not made: it is the driver itself that is stopped).
const settings = {
  partitions: '16',
  'replication-factor': '3',
  'ae-interval': '500ms',
  sync: 'none',
  'ae-serve-worker': false,
  'membership-tick': '1h',
  'membership-cleanup-grace': '20s',
};

const members = async (url: string): Promise<MembersView> =>
  (await http('GET', `${url}/cluster/members`)).json as MembersView;

function pendingOf(node: RunningNode): PendingDiscard[] {
  const bytes = node.ctx.services.replica.getMeta(discardsMetaName);
  return bytes === undefined ? [] : decodeDiscards(bytes);
}

/** Records held (the digest's count), once the digest a start rebuilds is ready (before, it counts 0). */
const countOf = (node: RunningNode): number =>
  node.ctx.services.replica.digestReady ? node.ctx.services.replica.digest.count() : Number.NaN;

async function discarded(node: RunningNode): Promise<number> {
  const metric = node.ctx.registry.getSingleMetric('converge_membership_dropped_records_total');
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => v.labels.reason === 'discard').reduce((n, v) => n + v.value, 0);
}

/** n4 on the port after the cluster's: with --join the first time, then (restarted) with its stored state. */
function startN4(cluster: LocalCluster, joinUrl: string | null): Promise<RunningNode> {
  const port = cluster.configs[0]!.listen.port + 3;
  const peers = ['n1', 'n2', 'n3'].map((id) => `${id}=${cluster.url(id)}`).join(',');
  const config = resolveConfig(
    { 'leaf-bits': '16', 'log-level': 'warn', ...settings },
    { id: 'n4', listen: `127.0.0.1:${port}`, data: join(cluster.dataRoot, 'n4'), peers },
    joinUrl === null ? {} : { join: joinUrl },
  );
  return startNode({ config });
}

test('a cancelled join whose driver is gone: the joiner discards its copies after the grace, across a restart', async () => {
  const cluster = await startCluster({ nodes: 3, settings });
  let n4: RunningNode | undefined;
  try {
    n4 = await startN4(cluster, cluster.url('n1'));
    const joined = n4;
    await eventually(
      async () =>
        (await members(cluster.url('n2'))).change !== null && (await members(joined.url)).change !== null,
      60_000,
      'the join installed on n2 and n4',
    );
    // Quorum writes of the partitions n4 would gain reach it too (old ∪ new owners).
    for (let i = 0; i < 200; i++) {
      const res = await http('PUT', `${cluster.url('n2')}/kv/k-${i}?consistency=quorum`, `v-${i}`);
      assert.equal(res.status, 200, res.body);
    }
    await eventually(() => countOf(joined) > 0, 60_000, 'n4 to hold part of its share');

    // The driver (n1) dies; the change is cancelled through n2.
    await cluster.stop('n1');
    const cancelled = await http('POST', `${cluster.url('n2')}/cluster/cancel`);
    assert.equal(cancelled.status, 200, cancelled.body);
    await eventually(() => pendingOf(joined).length > 0, 60_000, 'n4 to store what it must discard');
    const dueMs = Math.min(...pendingOf(joined).map((d) => d.dueMs));
    assert.equal((await members(joined.url)).change, null, 'n4 installed the cancel');

    // n4 restarts between the cancel and the cleanup: the list is read back from its storage.
    const held = countOf(joined);
    const before = await discarded(joined);
    await joined.stop();
    n4 = undefined;
    n4 = await startN4(cluster, null);
    const restarted = n4;
    if (Date.now() < dueMs) {
      assert.ok(pendingOf(restarted).length > 0, 'the list survived the restart');
      assert.ok(held > 0, 'nothing was discarded before the grace');
    }
    await eventually(() => countOf(restarted) === 0, 120_000, 'n4 to discard its copies after the grace');
    assert.ok(Date.now() >= dueMs, 'not before the grace');
    // Counted by the restarted n4 (or, on a machine too slow to restart within the grace, by the first).
    assert.ok(before + (await discarded(restarted)) > 0, 'the discard is counted');
    await eventually(() => pendingOf(restarted).length === 0, 30_000, 'the list emptied');
    // The old owners still hold every key: quorum reads through n2 (n2 and n3 up).
    for (let i = 0; i < 200; i += 17) {
      const res = await http('GET', `${cluster.url('n2')}/kv/k-${i}?consistency=quorum`);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, `v-${i}`);
    }
  } finally {
    await n4?.stop();
    await cluster.close();
  }
});
