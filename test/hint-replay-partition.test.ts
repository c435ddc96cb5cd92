// Hint replay beside a peer that swallows requests (a partition drops packets; nothing is refused): replay to
// the other peers goes on at its own pace, neither behind pings to the silent peer nor behind its own replay.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from '../src/cluster/cluster-test-helpers.js';
import { TransportFaults } from '../src/cluster/faults.js';
import { LoopbackNetwork } from '../src/cluster/loopback-transport.js';
import { type ConvergeNode, createNode } from '../src/cluster/node.js';
import { replicationRoute } from '../src/cluster/replication-channel.js';
import type { Transport } from '../src/cluster/transport.js';
import { ConvergeError } from '../src/core/errors.js';
import { seededRandom } from '../src/core/random.js';
import { keyToBytes } from '../src/core/record.js';
import { openReplica } from '../src/replica/replica.js';
import { systemClock, systemTimers } from '../src/runtime/system.js';
import { createMemoryStorage } from '../src/storage/memory.js';

/** Long enough that a replay waiting on one silent call would stand out against the backoff below. */
const requestTimeoutMs = 3000;
const hintBackoffMsMax = 100;

/** Calls to `silent` get no answer: each ends only at its timeout, like a request into dropped packets. */
function withSilentPeer(inner: Transport, silent: Set<string>, calls: Map<string, number>): Transport {
  return {
    call: async (peer, request) => {
      calls.set(`${peer} ${request.route}`, (calls.get(`${peer} ${request.route}`) ?? 0) + 1);
      if (!silent.has(peer)) return inner.call(peer, request);
      await new Promise((resolve) => setTimeout(resolve, request.timeoutMs));
      throw new ConvergeError('TIMEOUT', `${peer} did not answer within ${request.timeoutMs} ms`);
    },
  };
}

test('hints reach a returning peer at their own pace while another peer stays silent', async () => {
  const network = new LoopbackNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const peers = ids.map((id) => ({ id, url: `loopback://${id}` }));
  const silent = new Set(['n3']);
  const calls = new Map<string, number>();
  const nodes: ConvergeNode[] = [];
  const faults = new TransportFaults(seededRandom(1));
  for (const [i, id] of ids.entries()) {
    const replica = await openReplica({ id, storage: createMemoryStorage(), leafBits: 8 });
    await replica.whenDigestReady();
    const base = network.transport(id, i === 0 ? faults : undefined);
    const node = createNode({
      id,
      peers,
      replica,
      clock: systemClock,
      random: seededRandom(10 + i),
      timers: systemTimers,
      tickMs: 20,
      transport: i === 0 ? withSilentPeer(base, silent, calls) : base,
      mechanisms: { readRepair: false, antiEntropy: false },
      limits: { requestTimeoutMs },
      hintLimits: { hintBackoffMsMax },
    });
    network.register(id, (route, body, from) => node.handleInternal(route, body, from));
    node.start();
    nodes.push(node);
  }
  const [n1, n2] = nodes as [ConvergeNode, ConvergeNode, ConvergeNode];
  try {
    faults.block('n2');
    await n1.put('k', new TextEncoder().encode('v'), 'one');
    const pending = (id: string) => n1.status().peers.find((p) => p.id === id)!.hintsPending;
    // The hint for n3 is stored once its replication times out; from then on its replay hangs too.
    await eventually(
      () => pending('n2') === 1 && pending('n3') === 1,
      requestTimeoutMs + 2000,
      'hints for n2 and n3',
    );
    // n2 stays unreachable for a while: replay keeps trying at its backoff, whatever the pings to n3 are
    // doing.
    const before = calls.get(`n2 ${replicationRoute}`) ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const attempts = (calls.get(`n2 ${replicationRoute}`) ?? 0) - before;
    assert.ok(
      attempts >= 4,
      `${attempts} replay attempts to n2 in 1.5 s (backoff at most ${hintBackoffMsMax} ms)`,
    );
    faults.unblock('n2');
    const t0 = Date.now();
    await eventually(() => n2.ctx.replica.get(keyToBytes('k')) !== undefined, 2000, 'the hint to reach n2');
    assert.ok(Date.now() - t0 < requestTimeoutMs / 2, `the hint took ${Date.now() - t0} ms`);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
