// In-process: a node whose clock runs an hour ahead (and whose own bound is set wide, so it still
// coordinates). Its peers refuse its records on replication (no hint is kept for them), on hint replay (the
// hint is dropped, counted as rejected), and a read coordinated elsewhere never returns its record.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../core/random.js';
import { keyToBytes } from '../core/record.js';
import { openReplica } from '../replica/replica.js';
import { systemTimers } from '../runtime/system.js';
import { createMemoryStorage } from '../storage/memory.js';
import { eventually } from './cluster-test-helpers.js';
import { TransportFaults } from './faults.js';
import { LoopbackNetwork } from './loopback-transport.js';
import { type ConvergeNode, createNode } from './node.js';

const hourMs = 3_600_000;

async function cluster(): Promise<{
  nodes: ConvergeNode[];
  faults: TransportFaults[];
  close(): Promise<void>;
}> {
  const network = new LoopbackNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const peers = ids.map((id) => ({ id, url: `loopback://${id}` }));
  const nodes: ConvergeNode[] = [];
  const faults: TransportFaults[] = [];
  for (const [i, id] of ids.entries()) {
    const clock = { now: () => Date.now() + (i === 0 ? hourMs : 0) };
    const maxClockDriftMs = i === 0 ? 10 * hourMs : 5000;
    const replica = await openReplica({
      id,
      storage: createMemoryStorage(),
      leafBits: 8,
      clock,
      maxClockDriftMs,
    });
    await replica.whenDigestReady();
    const f = new TransportFaults(seededRandom(i + 1));
    const node = createNode({
      id,
      peers,
      replica,
      transport: network.transport(id, f),
      clock,
      random: seededRandom(10 + i),
      timers: systemTimers,
      tickMs: 20,
      limits: { requestTimeoutMs: 500 },
      maxClockDriftMs,
      monotonicNow: () => performance.now(),
    });
    network.register(id, (route, body, from) => node.handleInternal(route, body, from));
    node.start();
    nodes.push(node);
    faults.push(f);
  }
  return { nodes, faults, close: () => Promise.all(nodes.map((n) => n.close())).then(() => {}) };
}

test('records stamped an hour ahead are refused on replication, hint replay and reads, and no hint is kept for a refusal', async () => {
  const { nodes, faults, close } = await cluster();
  try {
    const [n1, n2, n3] = nodes as [ConvergeNode, ConvergeNode, ConvergeNode];
    await eventually(() => (n2.status().clock?.peers.length ?? 0) === 2, 5000, 'n2 to measure both clocks');
    assert.equal(n2.status().clock?.skewed, false, 'one peer off of two is not most: n2 keeps coordinating');
    // n3 cut off: it gets a hint; n2 answers CLOCK_AHEAD, which is neither an acknowledgement nor a reason to
    // hint.
    faults[0]!.block('n3');
    const res = await n1.put('k', new TextEncoder().encode('ahead'), 'one');
    assert.deepEqual(res.acknowledged, ['n1']);
    await eventually(() => n1.ctx.hints!.pending() === 1, 5000, 'the hint for n3');
    assert.equal(n1.ctx.hints!.pending('n2'), 0, 'no hint for a replica that refused the version');
    assert.equal(n2.ctx.replica.get(keyToBytes('k')), undefined);
    faults[0]!.healAll();
    await eventually(() => n1.ctx.hints!.pending() === 0, 5000, 'the hint to be delivered');
    assert.equal(n1.ctx.hints!.counters.dropped.rejected, 1, 'refused by n3: dropped, not retried');
    assert.equal(n3.ctx.replica.get(keyToBytes('k')), undefined);
    // n2 reads from all: n1's answer is an hour ahead of n2's clock and does not win.
    const read = await n2.get('k', 'all');
    assert.equal(read.found, false);
    assert.equal(read.version, undefined);
    assert.ok((n2.status().clock?.refusedAhead.replication ?? 0) >= 1);
    assert.match(await n2.registry.metrics(), /converge_clock_ahead_refused_total\{source="read"\} [1-9]/);
  } finally {
    await close();
  }
});
