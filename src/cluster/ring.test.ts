// The node's side of the ring, in process: writes and reads go to the key's replicas only (whoever
// coordinates), hints and read repair stay among them, and a node refuses records of partitions it does not
// hold (PARTITION_NOT_OWNED for a whole request, a per-record `refused` on the coalesced channel).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { keyToBytes, makeRecord, type VersionedRecord } from '../core/record.js';
import { eventually, startTestCluster, type TestCluster } from './cluster-test-helpers.js';
import { encodeRecords } from './codec.js';
import { replicationRoute } from './replication-channel.js';
import { AckStatus, decodeReplicationAck, encodeReplicationBatch } from './replication-codec.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const ring = { partitions: 16, replicationFactor: 3 };

/** A key whose replicas do not include node `outside` (so it can coordinate without holding it). */
function keyOutside(c: TestCluster, outside: string): { key: string; replicas: readonly string[] } {
  for (let i = 0; ; i++) {
    const replicas = c.nodes[0]!.ring.replicasFor(keyToBytes(`k${i}`));
    if (!replicas.includes(outside)) return { key: `k${i}`, replicas };
  }
}

const holders = (c: TestCluster, key: string): string[] =>
  c.nodes.filter((n) => n.ctx.replica.get(keyToBytes(key)) !== undefined).map((n) => n.id);

test('5 nodes RF 3: a node that is not a replica coordinates; the key lands on exactly its 3 replicas', async () => {
  const c = await startTestCluster(5, { antiEntropy: false }, 20, { ring });
  try {
    const { key, replicas } = keyOutside(c, 'n1');
    const w = await c.nodes[0]!.put(key, text('v'), 'all');
    assert.deepEqual([...w.acknowledged].sort(), [...replicas].sort());
    assert.deepEqual(holders(c, key), [...replicas].sort());
    const r = await c.nodes[0]!.get(key, 'quorum');
    assert.equal(Buffer.from(r.value!).toString(), 'v');
    assert.ok(r.replied.every((id) => replicas.includes(id)));
    assert.equal(r.replied.length, 2, 'quorum of RF 3 is 2');
  } finally {
    await c.close();
  }
});

test("the 503 names the key's replicas and who acknowledged; hints only for its unreachable replica", async () => {
  const c = await startTestCluster(5, { antiEntropy: false }, 20, { ring });
  try {
    const { key, replicas } = keyOutside(c, 'n1');
    const down = c.nodes.findIndex((n) => n.id === replicas[2]);
    c.isolate(down);
    const err = await c.nodes[0]!.put(key, text('v'), 'all').catch((e: unknown) => e);
    assert.ok(err instanceof ConvergeError && err.code === 'UNAVAILABLE', String(err));
    const sorted = [...replicas].sort();
    const took = sorted.filter((id) => id !== replicas[2]);
    assert.equal(
      err.message,
      `wrote to 2 of 3 replicas (all needs 3); unreachable: ${replicas[2]}; ` +
        `the key's replicas: ${sorted.join(', ')}, acknowledged: ${took.join(', ')}`,
    );
    assert.deepEqual(err.details?.hinted, [replicas[2]]);
    assert.equal(c.nodes[0]!.ctx.hints?.pending(), 1, 'one hint, for the key replica that missed it');
    c.heal();
    await eventually(() => holders(c, key).length === 3, 5000, 'the hint to be replayed');
    assert.deepEqual(holders(c, key), sorted);
  } finally {
    await c.close();
  }
});

test('read repair writes back only to the stale replicas of the key', async () => {
  const c = await startTestCluster(5, { antiEntropy: false, hints: false }, 20, { ring });
  try {
    const { key, replicas } = keyOutside(c, 'n1');
    const stale = c.nodes.findIndex((n) => n.id === replicas[0]);
    c.isolate(stale);
    await c.nodes[0]!.put(key, text('new'), 'quorum');
    c.heal();
    const r = await c.nodes[0]!.get(key, 'all');
    assert.deepEqual(r.repaired, [replicas[0]]);
    await eventually(() => holders(c, key).length === 3, 5000, 'the repair');
    assert.deepEqual(holders(c, key), [...replicas].sort());
  } finally {
    await c.close();
  }
});

function recordOf(c: TestCluster, node: string, held: boolean, tag: string): VersionedRecord {
  for (let i = 0; ; i++) {
    const key = keyToBytes(`${tag}${i}`);
    if (c.nodes[0]!.ring.replicasFor(key).includes(node) === held)
      return makeRecord(key, { ms: Date.now(), counter: 0, node: 'n9' }, text('x'));
  }
}

test('a node refuses records of partitions it does not hold: a whole request, or per record when coalesced', async () => {
  const c = await startTestCluster(5, { antiEntropy: false }, 20, { ring });
  try {
    const n2 = c.nodes[1]!;
    const mine = recordOf(c, 'n2', true, 'mine');
    const foreign = recordOf(c, 'n2', false, 'foreign');
    const err = await n2.handleInternal('replicate', encodeRecords([mine, foreign]), 'n1').catch((e) => e);
    assert.ok(err instanceof ConvergeError && err.code === 'PARTITION_NOT_OWNED', String(err));
    assert.match(err.message, /1 of 2 replication records from n1 belong to partitions n2 does not hold/);
    assert.equal(n2.ctx.replica.get(mine.key), undefined, 'nothing of the request was applied');
    const batch = encodeReplicationBatch([
      { record: mine, source: 'replication' },
      { record: foreign, source: 'hint' },
    ]);
    const ack = decodeReplicationAck(await n2.handleInternal(replicationRoute, batch, 'n1'), 2);
    assert.deepEqual(ack, [AckStatus.persisted, AckStatus.refused]);
    assert.ok(n2.ctx.replica.get(mine.key) !== undefined);
    assert.equal(n2.ctx.replica.get(foreign.key), undefined);
  } finally {
    await c.close();
  }
});

test('an internal request carrying another ring fingerprint is refused with RING_MISMATCH', async () => {
  const c = await startTestCluster(3, { antiEntropy: false }, 20, { ring });
  try {
    const n2 = c.nodes[1]!;
    const body = encodeRecords([recordOf(c, 'n2', true, 'k')]);
    const err = await n2.handleInternal('replicate', body, 'n1', '0123456789abcdef').catch((e) => e);
    assert.ok(err instanceof ConvergeError && err.code === 'RING_MISMATCH', String(err));
    assert.match(err.message, /n1 runs ring fingerprint 0123456789abcdef, this node \(n2\) [0-9a-f]{16}/);
    // The same fingerprint passes; a ping passes whatever it carries (its answer tells the difference).
    await n2.handleInternal('replicate', body, 'n1', n2.ring.fingerprint());
    await n2.handleInternal('ping', new Uint8Array(0), 'n1', '0123456789abcdef');
    const s = n2.status();
    assert.equal(s.ring?.partitions, 16);
    assert.deepEqual(s.ring?.owned, [[0, 15]], 'N = RF = 3: every node holds every partition');
    // n2 alone took that record: its shared ranges differ from both peers', while n1's and n3's are equal.
    await eventually(() => n2.status().peers.every((p) => p.ring?.equal === false), 5000, 'n2 to differ');
    const n1n3 = () => c.nodes[0]!.status().peers.find((p) => p.id === 'n3')?.ring;
    await eventually(() => n1n3()?.equal === true, 5000, 'n1 and n3 equal');
    assert.equal(n1n3()?.shared, 16);
  } finally {
    await c.close();
  }
});
