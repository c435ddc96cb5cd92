import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConvergeError } from '../core/errors.js';
import { keyToBytes, makeRecord } from '../core/record.js';
import { eventually, startTestCluster, type TestCluster } from './cluster-test-helpers.js';
import type { ConvergeNode } from './node.js';
import { replicationRoute } from './replication-channel.js';
import {
  AckStatus,
  decodeReplicationAck,
  decodeReplicationBatch,
  encodeReplicationAck,
  encodeReplicationBatch,
  type ReplicationEntry,
} from './replication-codec.js';
import type { InternalHandler } from './transport.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Slows every replication message a node receives, so its sender's queue fills. */
const slowReplication =
  (delayMs: number) =>
  (_id: string, handler: InternalHandler): InternalHandler =>
  async (route, body, from) => {
    if (route === replicationRoute) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return handler(route, body, from);
  };

function drained(c: TestCluster): boolean {
  return c.nodes.every((n) => [...n.ctx.channels.values()].every((ch) => ch.pendingRecords === 0));
}

function holds(node: ConvergeNode, key: string): boolean {
  return node.ctx.replica.get(keyToBytes(key)) !== undefined;
}

test('replication codec: a batch and its ack round-trip; bad bytes are refused with their codes', () => {
  const entries: ReplicationEntry[] = [
    { record: makeRecord(text('a'), { ms: 5, counter: 1, node: 'n1' }, text('one')), source: 'replication' },
    { record: makeRecord(text('b'), { ms: 6, counter: 0, node: 'n2' }, null), source: 'hint' },
    {
      record: makeRecord(text('c'), { ms: 7, counter: 2, node: 'n3' }, new Uint8Array(0)),
      source: 'read-repair',
    },
  ];
  const bytes = encodeReplicationBatch(entries);
  const back = decodeReplicationBatch(bytes, 1024);
  assert.deepEqual(
    back.map((e) => [e.source, e.record.tombstone, e.record.version.ms]),
    [
      ['replication', false, 5],
      ['hint', true, 6],
      ['read-repair', false, 7],
    ],
  );
  assert.deepEqual(
    back.map((e) => e.record.fp),
    entries.map((e) => e.record.fp),
    'fingerprints recomputed to the same values',
  );
  assert.deepEqual(decodeReplicationAck(encodeReplicationAck([0, 1, 0]), 3), [0, 1, 0]);
  assert.throws(() => decodeReplicationAck(encodeReplicationAck([0]), 2), { code: 'PROTOCOL_INVALID' });
  assert.throws(() => decodeReplicationBatch(bytes.subarray(0, bytes.length - 1), 1024), {
    code: 'PROTOCOL_INVALID',
  });
  assert.throws(() => decodeReplicationBatch(new Uint8Array([...bytes, 0]), 1024), {
    code: 'PROTOCOL_INVALID',
  });
  assert.throws(() => decodeReplicationBatch(new Uint8Array([9, ...bytes.subarray(1)]), 1024), {
    code: 'PROTOCOL_VERSION',
  });
  assert.throws(() => decodeReplicationBatch(bytes, 2), { code: 'VALUE_TOO_LARGE' });
  const badSource = bytes.slice();
  badSource[3] = 7;
  assert.throws(() => decodeReplicationBatch(badSource, 1024), { code: 'PROTOCOL_INVALID' });
});

test('replication codec: a truncated or corrupted batch is refused or decodes to well-formed records', () => {
  const bytes = encodeReplicationBatch(
    Array.from({ length: 5 }, (_, i) => ({
      record: makeRecord(text(`k${i}`), { ms: i, counter: 0, node: 'n1' }, text('v'.repeat(i))),
      source: 'replication' as const,
    })),
  );
  fc.assert(
    fc.property(fc.nat(bytes.length - 1), fc.nat(255), fc.boolean(), (at, byte, cut) => {
      const input = cut ? bytes.subarray(0, at) : bytes.slice();
      if (!cut) input[at] = byte;
      try {
        for (const { record } of decodeReplicationBatch(input, 1024)) assert.ok(record.key.length > 0);
      } catch (err) {
        assert.ok(err instanceof ConvergeError, String(err));
      }
    }),
    { numRuns: 500 },
  );
});

test('concurrent writes to a peer travel in few messages, and every replica holds every write', async () => {
  const c = await startTestCluster(3, { hints: false, readRepair: false }, 20, {
    limits: { replicationMessagesInFlightMax: 1 },
  });
  try {
    const n = 300;
    await Promise.all(Array.from({ length: n }, (_, i) => c.nodes[0]!.put(`k${i}`, text(`v${i}`), 'quorum')));
    await eventually(() => drained(c), 5000, 'the channels to drain');
    for (const node of c.nodes)
      for (let i = 0; i < n; i++) assert.ok(holds(node, `k${i}`), `${node.id} holds k${i}`);
    for (const ch of c.nodes[0]!.ctx.channels.values()) {
      assert.equal(ch.counters.records, n);
      assert.ok(
        ch.counters.messages <= n / 10,
        `${ch.counters.messages} messages carried ${n} records to ${ch.peer}`,
      );
    }
  } finally {
    await c.close();
  }
});

test('a burst at 10x the queue bound, hints off: refused writes nowhere, acked ones everywhere', async () => {
  const queue = 16;
  const c = await startTestCluster(3, { hints: false, readRepair: false }, 20, {
    limits: { replicationQueueRecordsMax: queue, replicationMessageRecordsMax: 4, admissionWaitMsMax: 30 },
    wrap: slowReplication(15),
  });
  try {
    for (const consistency of ['one', 'quorum'] as const) {
      const keys = Array.from({ length: queue * 10 }, (_, i) => `${consistency}-${i}`);
      const results = await Promise.all(
        keys.map((k) =>
          c.nodes[0]!.put(k, text('x'), consistency).then(
            () => 'ok' as const,
            (e: unknown) => e,
          ),
        ),
      );
      const refused = keys.filter((_, i) => results[i] !== 'ok');
      const acked = keys.filter((_, i) => results[i] === 'ok');
      for (const r of results) if (r !== 'ok') assert.equal((r as ConvergeError).code, 'OVERLOADED');
      assert.ok(refused.length > 0, 'the burst exceeded the queues');
      assert.ok(acked.length >= queue, `${acked.length} writes admitted`);
      await eventually(() => drained(c), 10_000, 'the channels to drain');
      for (const node of c.nodes) {
        for (const k of acked) assert.ok(holds(node, k), `${node.id} holds acknowledged ${k}`);
        for (const k of refused) assert.ok(!holds(node, k), `${node.id} never applied refused ${k}`);
      }
    }
    const metrics = await c.nodes[0]!.registry.metrics();
    assert.match(metrics, /converge_admission\{state="overloaded"\} [1-9]/);
    assert.match(metrics, /converge_replication_queue_limit\{unit="records"\} 16/);
  } finally {
    await c.close();
  }
});

test('a full queue makes writers wait when the wait bound allows, and skips no replica', async () => {
  const c = await startTestCluster(3, { hints: false, readRepair: false }, 20, {
    limits: { replicationQueueRecordsMax: 8, replicationMessageRecordsMax: 4, admissionWaitMsMax: 10_000 },
    wrap: slowReplication(5),
  });
  try {
    const keys = Array.from({ length: 200 }, (_, i) => `w${i}`);
    await Promise.all(keys.map((k) => c.nodes[0]!.put(k, text('y'), 'one')));
    await eventually(() => drained(c), 10_000, 'the channels to drain');
    for (const node of c.nodes) for (const k of keys) assert.ok(holds(node, k), `${node.id} holds ${k}`);
    assert.ok(c.nodes[0]!.ctx.admission.counters.admittedAfterWait > 0, 'some writes waited for room');
  } finally {
    await c.close();
  }
});

test('an unreachable peer holds no admission: its records fail fast (hinted), writes go on', async () => {
  const c = await startTestCluster(3, { readRepair: false }, 20, {
    limits: { replicationQueueRecordsMax: 4, admissionWaitMsMax: 0 },
  });
  try {
    c.isolate(2);
    await c.nodes[0]!.put('first', text('1'), 'quorum');
    const keys = Array.from({ length: 100 }, (_, i) => `iso${i}`);
    const results = await Promise.all(
      keys.map((k) =>
        c.nodes[0]!.put(k, text('z'), 'quorum').then(
          () => 'ok',
          (e: unknown) => (e as ConvergeError).code,
        ),
      ),
    );
    // Both queues are bounded; with a zero wait some writes are refused; every message to n3 fails at once.
    for (const r of results) assert.ok(r === 'ok' || r === 'OVERLOADED', String(r));
    assert.ok(results.filter((r) => r === 'ok').length >= 4);
    await eventually(() => c.nodes[0]!.status().hints.pending >= 1, 2000, 'hints for n3');
    c.heal();
    await eventually(
      async () => (await c.nodes[2]!.get('first', 'one')).found,
      5000,
      'the hint to be replayed',
    );
  } finally {
    await c.close();
  }
});

test('a silent peer is down after one timeout: its queue fails to hints, holds nothing', async () => {
  let silent = false;
  const c = await startTestCluster(3, { readRepair: false }, 20, {
    limits: { replicationQueueRecordsMax: 8, admissionWaitMsMax: 50, requestTimeoutMs: 200 },
    wrap: (id, handler) => async (route, body, from) => {
      if (silent && id === 'n3') await new Promise(() => {});
      return handler(route, body, from);
    },
  });
  try {
    silent = true;
    const first = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        c.nodes[0]!.put(`s${i}`, text('v'), 'quorum').then(
          () => 'ok',
          (e: unknown) => (e as ConvergeError).code,
        ),
      ),
    );
    assert.ok(first.includes('ok'), 'writes at quorum go on while n3 is silent');
    await eventually(() => c.nodes[0]!.ctx.channels.get('n3')!.down, 2000, 'n3 to be taken as down');
    const after = await Promise.all(
      Array.from({ length: 40 }, (_, i) => c.nodes[0]!.put(`t${i}`, text('v'), 'quorum')),
    );
    assert.equal(after.length, 40, 'a down peer holds no admission: every write succeeds');
    assert.ok(c.nodes[0]!.status().hints.pending > 0, 'n3 gets hints');
    silent = false;
    await eventually(() => !c.nodes[0]!.ctx.channels.get('n3')!.down, 3000, 'n3 to be seen again');
  } finally {
    silent = false;
    await c.close();
  }
});

test('a malformed replication message is refused whole: no record of it is applied', async () => {
  const c = await startTestCluster(2, { hints: false });
  try {
    const good = {
      record: makeRecord(text('fine'), { ms: Date.now(), counter: 0, node: 'n2' }, text('v')),
      source: 'replication' as const,
    };
    const bad = {
      record: makeRecord(text('x'.repeat(2000)), { ms: Date.now(), counter: 0, node: 'n2' }, text('v')),
      source: 'replication' as const,
    };
    await assert.rejects(
      c.nodes[0]!.handleInternal(replicationRoute, encodeReplicationBatch([good, bad]), 'n2'),
      { code: 'KEY_TOO_LONG' },
    );
    assert.equal(holds(c.nodes[0]!, 'fine'), false);
    const ack = decodeReplicationAck(
      await c.nodes[0]!.handleInternal(replicationRoute, encodeReplicationBatch([good]), 'n2'),
      1,
    );
    assert.deepEqual(ack, [AckStatus.persisted]);
    assert.equal(holds(c.nodes[0]!, 'fine'), true);
  } finally {
    await c.close();
  }
});
