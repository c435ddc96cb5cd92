// Builds in-process clusters over the loopback transport with memory storage, for the cluster's unit tests
// (and anything else that needs a small, fast, real cluster without HTTP).

import { seededRandom } from '../core/random.js';
import { Topology } from '../core/topology.js';
import { LiveTopology } from '../core/topology-describe.js';
import { openReplica } from '../replica/replica.js';
import { systemClock, systemTimers } from '../runtime/system.js';
import { createMemoryStorage, type MemoryStorage } from '../storage/memory.js';
import { TransportFaults } from './faults.js';
import { LoopbackNetwork } from './loopback-transport.js';
import { type ConvergeNode, createNode } from './node.js';
import type { Mechanisms, NodeLimits } from './node-context.js';
import type { InternalHandler } from './transport.js';

export interface TestCluster {
  readonly nodes: ConvergeNode[];
  readonly storages: MemoryStorage[];
  readonly faults: TransportFaults[];
  readonly network: LoopbackNetwork;
  /** Cuts node i off from every other node, both ways. */
  isolate(i: number): void;
  heal(): void;
  close(): Promise<void>;
}

export interface TestClusterOptions {
  readonly limits?: Partial<NodeLimits>;
  /** Wraps each node's internal handler (to slow a route down, say). */
  readonly wrap?: (id: string, handler: InternalHandler) => InternalHandler;
  /** A ring with these parameters on every node (by default every node holds every key). */
  readonly ring?: { readonly partitions: number; readonly replicationFactor: number };
}

export async function startTestCluster(
  size: number,
  mechanisms: Partial<Mechanisms> = {},
  tickMs = 20,
  options: TestClusterOptions = {},
): Promise<TestCluster> {
  const network = new LoopbackNetwork();
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const peers = ids.map((id) => ({ id, url: `loopback://${id}` }));
  const nodes: ConvergeNode[] = [];
  const storages: MemoryStorage[] = [];
  const faults: TransportFaults[] = [];
  const ring = options.ring;
  const topology = (): LiveTopology | undefined =>
    ring === undefined
      ? undefined
      : new LiveTopology(Topology.create({ members: ids, ...ring, leafBits: 8 }));
  for (const [i, id] of ids.entries()) {
    const live = topology();
    const storage = createMemoryStorage();
    const replica = await openReplica({ id, storage, leafBits: 8 });
    await replica.whenDigestReady();
    const f = new TransportFaults(seededRandom(i + 1));
    const node = createNode({
      id,
      peers,
      replica,
      transport: network.transport(id, f),
      clock: systemClock,
      random: seededRandom(100 + i),
      timers: systemTimers,
      mechanisms,
      tickMs,
      limits: { requestTimeoutMs: 500, ...options.limits },
      ...(live === undefined ? {} : { topology: live }),
    });
    const handler: InternalHandler = (route, body, from) => node.handleInternal(route, body, from);
    network.register(id, options.wrap?.(id, handler) ?? handler);
    node.start();
    nodes.push(node);
    storages.push(storage);
    faults.push(f);
  }
  return {
    nodes,
    storages,
    faults,
    network,
    isolate(i) {
      for (const [j, f] of faults.entries()) {
        if (j === i) for (const id of ids) if (id !== ids[i]) f.block(id);
        if (j !== i) f.block(ids[i]!);
      }
    },
    heal() {
      for (const f of faults) f.healAll();
    },
    async close() {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
