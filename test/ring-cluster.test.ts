// The partitioned ring with real processes on loopback: five `converge serve` processes with RF 3 hold each
// key on exactly its three replicas, keep taking quorum writes and reads with one of them killed, and a
// member started with another --replication-factor is refused by its peers with the mismatch in words.

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

interface Member {
  readonly id: string;
  readonly url: string;
  readonly args: string[];
}

function members(count: number, root: string, extra: (id: string) => string[] = () => []): Member[] {
  const port = randomBasePort();
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const url = (i: number): string => `http://127.0.0.1:${port + i + 1}`;
  const peers = ids.map((id, i) => `${id}=${url(i)}`).join(',');
  return ids.map((id, i) => ({
    id,
    url: url(i),
    args: [
      ...['--id', id, '--listen', `127.0.0.1:${port + i + 1}`, '--data', join(root, id)],
      ...['--peers', peers, '--leaf-bits', '12', '--sync', 'none', '--ae-interval', '1s'],
      ...extra(id),
    ],
  }));
}

const status = async (url: string): Promise<NodeStatus> =>
  (await http('GET', `${url}/status`)).json as NodeStatus;

async function writeKeys(urls: readonly string[], from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, from + count - i) }, async (_, j) => {
        const k = i + j;
        const res = await http(
          'PUT',
          `${urls[k % urls.length]}/kv/key-${k}?consistency=quorum`,
          `value-${k}`,
        );
        assert.equal(res.status, 200, `PUT key-${k}: ${res.body}`);
      }),
    );
  }
}

test('5 nodes, RF 3: every key on exactly its 3 replicas; one node killed, quorum writes and reads go on', async () => {
  const root = mkdtempSync(join(tmpdir(), 'converge-ring-'));
  // Anti-entropy runs (per range): placement must hold with sessions going on; test/ring-ae.test.ts covers
  // what they repair.
  const nodes = members(5, root, () => ['--replication-factor', '3']);
  const children: ChildProcess[] = [];
  try {
    for (const n of nodes) children.push(await spawnServe(n.args));
    const ring = Topology.create({ members: nodes.map((n) => n.id), replicationFactor: 3, leafBits: 12 });
    const keys = 400;
    await writeKeys(
      nodes.map((n) => n.url),
      0,
      keys,
    );
    // Each node holds exactly the keys whose preference list names it; the counts sum to 3x the keys.
    const expected = new Map(nodes.map((n) => [n.id, 0]));
    for (let k = 0; k < keys; k++) {
      for (const id of ring.replicasForKey(keyToBytes(`key-${k}`))) expected.set(id, expected.get(id)! + 1);
    }
    let counts: number[] = [];
    await eventually(
      async () => {
        counts = await Promise.all(nodes.map(async (n) => (await status(n.url)).keys));
        return counts.every((c, i) => c === expected.get(nodes[i]!.id));
      },
      20_000,
      `key counts ${JSON.stringify([...expected])}`,
    ).catch((err: Error) => assert.fail(`${err.message}, seen ${counts.join(', ')}`));
    assert.equal(
      [...expected.values()].reduce((a, b) => a + b, 0),
      3 * keys,
    );
    // The ring as each node reports it: the same members and parameters, each within one partition of
    // P x RF / N = 153.6.
    for (const n of nodes) {
      const s = await status(n.url);
      assert.deepEqual(s.ring?.members, ['n1', 'n2', 'n3', 'n4', 'n5']);
      const held = s.ring!.owned.reduce((sum, [a, b]) => sum + b - a + 1, 0);
      assert.ok(held === 153 || held === 154, `${n.id} holds ${held} partitions`);
      for (const p of s.peers) assert.equal(p.ring?.mismatch, undefined);
    }
    // Every range's replicas equal (each node compares what it shares with each peer on its pings): one
    // verdict, exit 0, though the five digest roots differ.
    let verdict = { code: -1, stdout: '', stderr: '' };
    await eventually(
      async () => {
        verdict = await cli(['status', '--node', nodes[0]!.url]);
        return verdict.code === 0;
      },
      20_000,
      '`converge status` to exit 0',
    ).catch((err: Error) => assert.fail(`${err.message}: ${verdict.stdout}${verdict.stderr}`));
    assert.match(
      verdict.stdout,
      /converged: every range's replicas hold the same records \(5 members, RF 3, P 256\)/,
    );
    assert.doesNotMatch(verdict.stdout, /same digest root/);
    // One node killed: every key still takes quorum writes and answers quorum reads.
    const dead = children[4]!;
    dead.kill('SIGKILL');
    await killed(dead);
    const live = nodes.slice(0, 4).map((n) => n.url);
    await writeKeys(live, keys, 200);
    for (let k = 0; k < keys + 200; k += 1) {
      const res = await http('GET', `${live[k % live.length]}/kv/key-${k}?consistency=quorum`);
      assert.equal(res.status, 200, `GET key-${k}: ${res.body}`);
      assert.equal(res.body, `value-${k}`);
    }
    // `converge status` names the dead member and cannot promise convergence: exit code 2.
    const out = await cli(['status', '--node', nodes[0]!.url]);
    assert.equal(out.code, 2, out.stdout + out.stderr);
    assert.match(out.stdout, /UNKNOWN: n5 unreachable/);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map(killed));
    rmSync(root, { recursive: true, force: true });
  }
});

test('a member started with another --replication-factor is refused by its peers, with the mismatch named', async () => {
  const root = mkdtempSync(join(tmpdir(), 'converge-ring-'));
  const nodes = members(3, root, (id) => ['--replication-factor', id === 'n3' ? '2' : '3']);
  const children: ChildProcess[] = [];
  try {
    for (const n of nodes) children.push(await spawnServe(n.args));
    await eventually(
      async () => (await status(nodes[0]!.url)).peers.some((p) => p.ring?.mismatch !== undefined),
      10_000,
      'n1 to see the mismatch',
    );
    const s = await status(nodes[0]!.url);
    const n3 = s.peers.find((p) => p.id === 'n3')!;
    assert.equal(n3.ring?.mismatch, 'ring mismatch: peer n3 runs --replication-factor 2, this node 3');
    assert.equal(n3.reachable, false);
    assert.equal(s.peers.find((p) => p.id === 'n2')!.ring?.mismatch, undefined);
    // An internal request with the other ring's fingerprint is refused: a write at `all` misses n3.
    const put = await http('PUT', `${nodes[0]!.url}/kv/k?consistency=all`, 'v');
    assert.equal(put.status, 503, put.body);
    assert.match(put.body, /unreachable: n3/);
    const out = await cli(['status', '--node', nodes[0]!.url]);
    assert.match(out.stdout, /n1: RING MISMATCH with n3: ring mismatch: peer n3 runs --replication-factor 2/);
    assert.notEqual(out.code, 0, out.stdout);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map(killed));
    rmSync(root, { recursive: true, force: true });
  }
});
