// One acceptance suite, three transports: the HTTP transport against the node's real HTTP server on
// 127.0.0.1 (port 0), the in-process loopback network, and the simulator's network in virtual time.

import type { AddressInfo } from 'node:net';
import { TransportFaults } from '../src/cluster/faults.js';
import { HttpTransport } from '../src/cluster/http-transport.js';
import { LoopbackNetwork } from '../src/cluster/loopback-transport.js';
import type { ConvergeNode } from '../src/cluster/node.js';
import type { InternalHandler, Transport } from '../src/cluster/transport.js';
import { runTransportContract, type TransportFixture } from '../src/cluster/transport-contract.js';
import { seededRandom } from '../src/core/random.js';
import { buildHttpServer } from '../src/server/http.js';
import { SimNetwork } from '../src/sim/network.js';
import { type Owner, Scheduler } from '../src/sim/scheduler.js';

/** Fault hooks per calling node, made on first use. */
function faultsFor(): (self: string) => TransportFaults {
  const all = new Map<string, TransportFaults>();
  return (self) => {
    let f = all.get(self);
    if (f === undefined) {
      f = new TransportFaults(seededRandom(1));
      all.set(self, f);
    }
    return f;
  };
}

runTransportContract('http', async () => {
  const urls = new Map<string, string>();
  const servers = new Map<string, ReturnType<typeof buildHttpServer>>();
  const transports: HttpTransport[] = [];
  const faults = faultsFor();
  return {
    async serve(node: string, handler: InternalHandler) {
      // The real server routes /internal/*; only its handleInternal is used (why the cast is safe here).
      // The batch route reads its limits when it is registered.
      const limits = { batchBytesMax: 2 ** 20, batchKeysMax: 1000 };
      const stub = { handleInternal: handler, ctx: { limits } } as unknown as ConvergeNode;
      const app = buildHttpServer({
        node: stub,
        status: () => {
          throw new Error('no /status in the transport contract');
        },
        antiEntropy: () => undefined,
        bodyBytesMax: 8 * 2 ** 20,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      urls.set(node, `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
      servers.set(node, app);
    },
    async stop(node: string) {
      await servers.get(node)?.close();
      servers.delete(node);
    },
    transport(self: string): Transport {
      const t = new HttpTransport({ self, peers: urls, faults: faults(self) });
      transports.push(t);
      return t;
    },
    isolate: (self, peer) => faults(self).block(peer),
    settle: (promise) => promise,
    async cleanup() {
      await Promise.all(transports.map((t) => t.close()));
      await Promise.all([...servers.values()].map((app) => app.close()));
    },
  } satisfies TransportFixture;
});

runTransportContract('loopback', async () => {
  const network = new LoopbackNetwork();
  const faults = faultsFor();
  return {
    serve: async (node, handler) => network.register(node, handler),
    stop: async (node) => network.unregister(node),
    transport: (self) => network.transport(self, faults(self)),
    isolate: (self, peer) => faults(self).block(peer),
    settle: (promise) => promise,
    cleanup: async () => {},
  };
});

runTransportContract('simulated network', async () => {
  const scheduler = new Scheduler({ eventsMax: 1_000_000 });
  const network = new SimNetwork(scheduler, seededRandom(7));
  const owner = (name: string): Owner => ({ name, alive: true });
  return {
    serve: async (node, handler) => network.register(node, owner(node), handler),
    stop: async (node) => network.unregister(node),
    transport: (self) => network.transport(self, owner(self)),
    isolate: (self, peer) => network.block(self, peer),
    async settle<T>(promise: Promise<T>): Promise<T> {
      let settled = false;
      const watched = promise.finally(() => {
        settled = true;
      });
      watched.catch(() => undefined); // the outcome is awaited below; this only marks it
      await scheduler.runUntil(scheduler.nowMs + 3_600_000, () => settled);
      return watched;
    },
    cleanup: async () => {},
  };
});
