// Anti-entropy alone (hints and read repair off) on real nodes over HTTP: a replica that missed writes while
// stopped converges; with anti-entropy off it stays silently divergent; tombstones wait for the watermark.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { keyToBytes } from '../src/core/record.js';
import { cli, converged, eventually, http, roots, startCluster } from './helpers.js';

const quiet = { hints: false, 'read-repair': false, 'ae-interval': '300ms', 'leaf-bits': '12' } as const;

async function writeWhileDown(cluster: LocalCluster, count: number): Promise<Map<string, string | null>> {
  await cluster.stop('n3');
  const expected = new Map<string, string | null>();
  const n1 = cluster.node('n1').ctx.node;
  const n2 = cluster.node('n2').ctx.node;
  const batch = 200;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
        const k = i + j;
        const key = `key-${k}`;
        const via = k % 2 === 0 ? n1 : n2;
        await via.put(key, new TextEncoder().encode(`v1-${k}`), 'one');
        expected.set(key, `v1-${k}`);
        if (k % 7 === 0) {
          await via.put(key, new TextEncoder().encode(`v2-${k}`), 'one');
          expected.set(key, `v2-${k}`);
        }
        if (k % 11 === 0) {
          await via.del(key, 'one');
          expected.set(key, null);
        }
      }),
    );
  }
  return expected;
}

function assertHolds(cluster: LocalCluster, expected: Map<string, string | null>): void {
  for (const r of cluster.running.values()) {
    for (const [key, value] of expected) {
      const rec = r.ctx.replica.get(keyToBytes(key));
      if (value === null)
        assert.ok(rec === undefined || rec.tombstone, `${r.ctx.config.id}: ${key} must stay deleted`);
      else
        assert.equal(
          rec !== undefined && !rec.tombstone ? Buffer.from(rec.value).toString() : undefined,
          value,
          `${r.ctx.config.id}: ${key}`,
        );
    }
  }
}

test('a replica that missed 10,000 writes (overwrites and deletes) while stopped converges by anti-entropy alone', async () => {
  const cluster = await startCluster({ settings: quiet });
  try {
    const expected = await writeWhileDown(cluster, 10_000);
    await cluster.start('n3');
    await eventually(() => converged(cluster), 60_000, 'equal digests');
    // Digests are equal once the last repair batch lands, a moment before its session ends and is recorded.
    // Look right then: sessions go on every interval and push older entries out of the recent history.
    const repairedBySession = () =>
      cluster
        .node('n3')
        .ctx.antiEntropy!.status()
        .history.some((h) => h.result === 'repaired' && h.keysPulled + h.keysPushed > 0);
    await eventually(repairedBySession, 10_000, 'the session that did the repair to be recorded');
    assertHolds(cluster, expected);
    const sample = await http('GET', `${cluster.url('n3')}/kv/key-14?consistency=one`);
    assert.equal(sample.body, 'v2-14');
    // A session between converged replicas moves nothing.
    const again = await cluster.node('n1').ctx.antiEntropy!.runNow('n3');
    assert.equal(again[0]!.result, 'converged');
    assert.equal(again[0]!.keysPulled + again[0]!.keysPushed, 0);
    assert.equal(again[0]!.roundTrips, 1);
  } finally {
    await cluster.close();
  }
});

test('range fetches are served by a worker at the lowest priority, or on the event loop with --no-ae-serve-worker', async () => {
  for (const worker of [true, false]) {
    const cluster = await startCluster({ settings: { ...quiet, 'ae-serve-worker': worker } });
    try {
      const expected = await writeWhileDown(cluster, 2_000);
      await cluster.start('n3');
      await eventually(() => converged(cluster), 60_000, `equal digests (worker ${worker})`);
      assertHolds(cluster, expected);
      for (const id of ['n1', 'n2', 'n3']) {
        const status = await http('GET', `${cluster.url(id)}/antientropy`);
        const serveWorker = (status.json as { serveWorker: { running: boolean; nice: number | null } })
          .serveWorker;
        assert.equal(serveWorker.running, worker, `${id}: worker running`);
        if (worker && process.platform === 'linux')
          assert.equal(serveWorker.nice, 19, `${id}: worker priority`);
      }
    } finally {
      await cluster.close();
    }
  }
});

test('with --no-anti-entropy the replicas stay silently divergent, and status shows it', async () => {
  const cluster = await startCluster({ settings: { ...quiet, 'anti-entropy': false } });
  try {
    await writeWhileDown(cluster, 500);
    await cluster.start('n3');
    // Let several would-be intervals pass: nothing may heal the drift.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(new Set(roots(cluster)).size, 2, 'n3 differs from n1 and n2');
    const status = await cli(['status', '--node', cluster.url('n1')]);
    assert.match(status.stdout, /DIVERGENT: 2 different digest roots/);
    assert.match(status.stdout, /n3 +yes +0 /);
  } finally {
    await cluster.close();
  }
});

test('converge diff previews the repair without writing; converge repair performs it', async () => {
  // Small repair batches: a whole range is listed over several range fetches, cursor to cursor.
  const cluster = await startCluster({
    settings: { ...quiet, 'ae-interval': '1h', 'ae-repair-batch-records-max': '7' },
  });
  try {
    await writeWhileDown(cluster, 50);
    // Writes at `one` are acknowledged before their fan-out to the other live node lands: let it settle.
    await eventually(() => new Set(roots(cluster)).size === 1, 5000, 'n1 and n2 to agree');
    // Records queued for n3 while it refused connections stay queued and would reach it once it is back, in
    // the middle of the previews: wait until the channels have given them up.
    const queuedForN3 = (): number =>
      ['n1', 'n2'].reduce(
        (sum, id) => sum + (cluster.node(id).ctx.node.ctx.channels.get('n3')?.pendingRecords ?? 0),
        0,
      );
    await eventually(() => queuedForN3() === 0, 10_000, 'the channels to n3 to drain');
    await cluster.start('n3');
    const before = roots(cluster);
    const diff = await cli(['diff', '--node', cluster.url('n3'), '--peer', 'n1', '--json']);
    assert.equal(diff.code, 0, diff.stderr);
    const preview = JSON.parse(diff.stdout) as {
      divergent: number;
      range: string;
      entries: Array<{ key: string; direction: string; reason: string }>;
    };
    assert.ok(preview.divergent >= 25, `preview found ${preview.divergent}`);
    assert.equal(
      preview.entries.length,
      preview.divergent,
      'every divergent key is listed, whole ranges included',
    );
    assert.ok(preview.entries.every((e) => e.direction === 'pull' && /missing locally/.test(e.reason)));
    // Every node holds every partition here (N = RF = 3): the preview compares them all.
    assert.equal(preview.range, 'all');
    const text = await cli(['diff', '--node', cluster.url('n3'), '--peer', 'n1', '--limit', '3']);
    assert.match(text.stdout, /first 3 shown; nothing was written\ncompared over every partition, found by /);
    const short = await cli(['diff', '--node', cluster.url('n3'), '--peer', 'n1', '--limit', '10', '--json']);
    const cut = JSON.parse(short.stdout) as { truncated: boolean; entries: unknown[] };
    assert.equal(cut.entries.length, 10, 'the listing stops at --limit');
    assert.equal(cut.truncated, true);
    assert.deepEqual(roots(cluster), before, 'the preview wrote nothing');
    const repair = await cli(['repair', '--node', cluster.url('n3'), '--json']);
    assert.equal(repair.code, 0, repair.stderr);
    assert.ok(converged(cluster));
  } finally {
    await cluster.close();
  }
});

test('a tombstone is purged only after the replica that missed the delete was repaired, and never comes back', async () => {
  const cluster = await startCluster({ settings: { ...quiet, 'tombstone-grace': '1ms' } });
  try {
    const key = keyToBytes('doomed');
    await cluster.node('n1').ctx.node.put('doomed', new TextEncoder().encode('alive'), 'all');
    await eventually(() => converged(cluster), 10_000, 'first convergence');
    await cluster.stop('n3');
    await cluster.node('n1').ctx.node.del('doomed', 'quorum');
    // Many intervals pass while n3 is down: the watermark cannot pass the delete, so nothing is purged.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const id of ['n1', 'n2'])
      assert.equal(cluster.node(id).ctx.replica.get(key)?.tombstone, true, `${id} keeps the tombstone`);
    await cluster.start('n3');
    await eventually(
      () => [...cluster.running.values()].every((r) => r.ctx.replica.get(key) === undefined),
      30_000,
      'the tombstone to be purged everywhere',
    );
    // The record leaves the replica before the purge pass that removed it counts it: wait for the count.
    const purged = (): number[] =>
      [...cluster.running.values()].map((r) => r.ctx.antiEntropy!.status().watermark.tombstonesPurged);
    await eventually(() => purged().every((n) => n >= 1), 10_000, 'every node to count its purge');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const r of cluster.running.values())
      assert.equal(r.ctx.replica.get(key), undefined, 'the key never comes back');
    assert.equal((await http('GET', `${cluster.url('n3')}/kv/doomed?consistency=all`)).status, 404);
  } finally {
    await cluster.close();
  }
});

test('converge ae pause stops scheduled sessions, resume restarts them; the throttle changes at run time', async () => {
  const cluster = await startCluster({ settings: { ...quiet, 'ae-interval': '200ms' } });
  try {
    const url = cluster.url('n1');
    const paused = await cli(['ae', 'pause', '--node', url, '--json']);
    assert.equal(paused.code, 0, paused.stderr);
    assert.deepEqual(JSON.parse(paused.stdout), { paused: true });
    const ae = cluster.node('n1').ctx.antiEntropy!;
    const count = (): number => ae.status().history.filter((h) => h.initiator === 'n1').length;
    // Let sessions that were already running finish, then nothing new may start while paused.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = count();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(count(), before, 'no session initiated while paused');
    assert.equal(ae.status().paused, true);
    assert.equal((await cli(['ae', 'resume', '--node', url])).stdout.trim(), 'anti-entropy resumed');
    await eventually(() => count() > before, 5000, 'sessions to start again');
    const t = await http('POST', `${url}/antientropy/throttle?records=1234&bytes=5678`);
    assert.deepEqual(t.json, { recordsPerSecondMax: 1234, bytesPerSecondMax: 5678 });
    assert.equal((await http('POST', `${url}/antientropy/throttle?records=-1`)).status, 400);
  } finally {
    await cluster.close();
  }
});
