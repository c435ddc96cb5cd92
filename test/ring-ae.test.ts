// Anti-entropy per range with real processes: five `converge serve` processes with RF 3, hints and read
// repair off. One node is killed, keys are written at quorum meanwhile, the node is restarted: anti-entropy
// alone brings it every key of its partitions (and no other), and `converge status` exits 0.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyToBytes } from '../src/core/record.js';
import { Topology } from '../src/core/topology.js';
import type { NodeStatus } from '../src/services/status.js';
import { cli, eventually, http, killed, randomBasePort, spawnServe } from './helpers.js';

const status = async (url: string): Promise<NodeStatus> =>
  (await http('GET', `${url}/status`)).json as NodeStatus;

test('5 nodes RF 3, hints and read repair off: a restarted node converges by anti-entropy alone', async () => {
  const root = mkdtempSync(join(tmpdir(), 'converge-ring-ae-'));
  const port = randomBasePort();
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const urls = ids.map((_, i) => `http://127.0.0.1:${port + i + 1}`);
  const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(',');
  const args = (i: number): string[] => [
    ...['--id', ids[i]!, '--listen', `127.0.0.1:${port + i + 1}`, '--data', join(root, ids[i]!)],
    ...['--peers', peers, '--leaf-bits', '12', '--sync', 'none', '--ae-interval', '300ms'],
    ...['--replication-factor', '3', '--no-hints', '--no-read-repair'],
  ];
  const children: Array<ChildProcess | undefined> = [];
  try {
    for (let i = 0; i < 5; i++) children.push(await spawnServe(args(i)));
    const down = children[4]!;
    down.kill('SIGKILL');
    await killed(down);
    const keys = 300;
    for (let k = 0; k < keys; k++) {
      const res = await http('PUT', `${urls[k % 4]}/kv/key-${k}?consistency=quorum`, `value-${k}`);
      assert.equal(res.status, 200, res.body);
    }
    children[4] = await spawnServe(args(4));
    const ring = Topology.create({ members: ids, replicationFactor: 3, leafBits: 12 });
    const mine = Array.from({ length: keys }, (_, k) => `key-${k}`).filter((k) =>
      ring.replicasForKey(keyToBytes(k)).includes('n5'),
    ).length;
    await eventually(
      async () => (await status(urls[4]!)).keys === mine,
      60_000,
      `n5 to hold its ${mine} keys`,
    );
    await eventually(
      async () => (await cli(['status', '--node', urls[0]!])).code === 0,
      60_000,
      '`converge status` to exit 0',
    );
    const out = await cli(['status', '--node', urls[0]!]);
    assert.match(out.stdout, /converged: every range's replicas hold the same records/);
    // A preview with a peer compares the partitions the two share, and says so.
    const shared = ring.sharedPartitions('n5', 'n1').length;
    const diff = await cli(['diff', '--node', urls[4]!, '--peer', 'n1']);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /no differences: n1 and this node hold identical records/);
    assert.match(diff.stdout, new RegExp(`compared over ${shared} shared partitions \\(`));
    // No node holds a record of a partition it does not own: the counts sum to exactly 3x the keys.
    const counts = await Promise.all(urls.map(async (u) => (await status(u)).keys));
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      3 * keys,
    );
  } finally {
    for (const c of children) c?.kill('SIGKILL');
    await Promise.all(children.map((c) => (c === undefined ? undefined : killed(c))));
    rmSync(root, { recursive: true, force: true });
  }
});
