import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { keyToBytes } from '../core/record.js';
import { eventually, startTestCluster } from './cluster-test-helpers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a quorum write is readable from every node', async () => {
  const c = await startTestCluster(3);
  try {
    const w = await c.nodes[0]!.put('color', text('blue'), 'quorum');
    assert.ok(w.acknowledged.length >= 2);
    for (const node of c.nodes) {
      const r = await node.get('color', 'quorum');
      assert.equal(Buffer.from(r.value!).toString(), 'blue');
    }
    await eventually(
      () => c.nodes.every((n) => n.ctx.replica.get(keyToBytes('color')) !== undefined),
      2000,
      'all replicas to hold it',
    );
  } finally {
    await c.close();
  }
});

test('with one node isolated: one and quorum succeed, all fails naming it, and the takers keep the write', async () => {
  const c = await startTestCluster(3, { hints: false });
  try {
    c.isolate(2);
    await c.nodes[0]!.put('a', text('1'), 'one');
    await c.nodes[0]!.put('b', text('2'), 'quorum');
    const err = await c.nodes[0]!.put('c', text('3'), 'all').catch((e: unknown) => e);
    assert.ok(err instanceof ConvergeError);
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /wrote to 2 of 3 replicas \(all needs 3\); unreachable: n3/);
    assert.deepEqual(err.details?.unreachable, ['n3']);
    assert.equal(
      Buffer.from((await c.nodes[1]!.get('c', 'one')).value!).toString(),
      '3',
      'drift: the replicas that took it keep it',
    );
    assert.equal((await c.nodes[2]!.get('c', 'one')).found, false);
  } finally {
    await c.close();
  }
});

test('hints are replayed to a replica when it becomes reachable again', async () => {
  const c = await startTestCluster(3, { readRepair: false });
  try {
    c.isolate(2);
    const w = await c.nodes[0]!.put('hinted', text('x'), 'quorum');
    await eventually(() => c.nodes[0]!.status().hints.pending === 1, 2000, 'the hint to be stored');
    assert.equal((await c.nodes[2]!.get('hinted', 'one')).found, false);
    c.heal();
    await eventually(
      async () => (await c.nodes[2]!.get('hinted', 'one')).found,
      5000,
      'the hint to be replayed',
    );
    await eventually(() => c.nodes[0]!.status().hints.pending === 0, 2000, 'the hint to be deleted');
    assert.ok(w.version.length > 0);
  } finally {
    await c.close();
  }
});

test('read repair sends the newest version to a stale replica, and is off when switched off', async () => {
  for (const readRepair of [true, false]) {
    const c = await startTestCluster(3, { hints: false, readRepair });
    try {
      c.isolate(2);
      await c.nodes[0]!.put('k', text('new'), 'quorum');
      c.heal();
      const r = await c.nodes[2]!.get('k', 'all');
      assert.equal(Buffer.from(r.value!).toString(), 'new');
      if (readRepair) {
        assert.deepEqual(r.repaired, ['n3']);
        await eventually(
          () => c.nodes[2]!.ctx.replica.get(keyToBytes('k')) !== undefined,
          2000,
          'read repair',
        );
      } else {
        assert.deepEqual(r.repaired, []);
        assert.equal(c.nodes[2]!.ctx.replica.get(keyToBytes('k')), undefined);
      }
    } finally {
      await c.close();
    }
  }
});

test('bad keys and values are refused with their codes and nothing is applied', async () => {
  const c = await startTestCluster(3);
  try {
    const n = c.nodes[0]!;
    await assert.rejects(n.put('', text('x'), 'one'), { code: 'KEY_INVALID' });
    await assert.rejects(n.put('k'.repeat(1025), text('x'), 'one'), { code: 'KEY_TOO_LONG' });
    await assert.rejects(n.put('big', new Uint8Array(1024 * 1024 + 1), 'one'), { code: 'VALUE_TOO_LARGE' });
    await assert.rejects(n.handleInternal('replicate', text('garbage'), 'n2'), { code: 'PROTOCOL_INVALID' });
    await assert.rejects(n.handleInternal('nope', new Uint8Array(0), 'n2'), { code: 'NOT_FOUND' });
    assert.equal(n.status().keys, 0);
  } finally {
    await c.close();
  }
});

test('concurrent writes to one key converge to the same winner everywhere', async () => {
  const c = await startTestCluster(3, { hints: true });
  try {
    await Promise.all(
      c.nodes.flatMap((n, i) => [
        n.put('hot', text(`from ${i}`), 'one'),
        n.put('hot', text(`again ${i}`), 'all'),
      ]),
    );
    await eventually(
      () => new Set(c.nodes.map((n) => n.status().digest.root)).size === 1,
      3000,
      'equal digests',
    );
    const values = await Promise.all(
      c.nodes.map(async (n) => Buffer.from((await n.get('hot', 'one')).value!).toString()),
    );
    assert.equal(new Set(values).size, 1);
  } finally {
    await c.close();
  }
});

test('a client write stamped under its partition purge bound is refused before anything is applied', async () => {
  // Simulation seed 1027: a node whose clock went back 33 s restarted while isolated (no peer to check its
  // clock) and acknowledged a write stamped behind a delete whose tombstone was already purged everywhere;
  // anti-entropy then spread that write and the deleted key was back. The purge bound is the node's own
  // durable evidence that its clock went back: a bound always lies the grace behind a reading of it.
  const c = await startTestCluster(3, { hints: false });
  try {
    c.isolate(0);
    const n1 = c.nodes[0]!;
    let boundMs = Date.now() + 30_000;
    n1.ctx.replica.followPurgeBound(() => boundMs);
    const refused = { code: 'CLOCK_SKEWED', message: /ms behind the tombstone purge bound/ };
    await assert.rejects(n1.put('k11', text('late'), 'one'), refused);
    await assert.rejects(n1.del('k12', 'one'), refused);
    const batch = [{ op: 'put' as const, key: 'k13', keyBytes: keyToBytes('k13'), value: text('x') }];
    await assert.rejects(n1.batch(batch, 'one'), refused);
    for (const key of ['k11', 'k12', 'k13']) assert.equal(n1.ctx.replica.get(keyToBytes(key)), undefined);
    // Its clock past the bound again: it coordinates as before.
    boundMs = Date.now() - 1000;
    const w = await n1.put('k11', text('fresh'), 'one');
    assert.deepEqual(w.acknowledged, ['n1']);
    assert.equal(Buffer.from(n1.ctx.replica.get(keyToBytes('k11'))!.value!).toString(), 'fresh');
  } finally {
    await c.close();
  }
});
