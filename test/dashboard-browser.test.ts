// The dashboard of a real `converge demo` cluster in Chromium (Debian's, driven by playwright-core): three
// nodes in-process on loopback, the page opened on the first, a node isolated through its card, a burst
// written, the network healed, sessions run from the page, and the divergence seen to return to zero.
// Screenshots: test-artifacts/dashboard.png (converged) and dashboard-diverging.png (after the burst).

import { createServer } from 'node:net';
import { test } from 'node:test';
import { LocalCluster } from '../src/cli/cluster.js';
import { extendWithAntiEntropy } from '../src/cli/wiring.js';
import { openBrowser, runDashboardScenario } from './dashboard-browser-scenario.js';

const nodeCount = 3;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port P with P+1 … P+n free: the demo puts node i on P+i. */
async function freeBasePort(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const free = await Promise.all(Array.from({ length: n }, (_, i) => portFree(base + 1 + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

test('dashboard of a running demo: isolate, write, heal, repair, converge', async () => {
  // The cluster `converge demo` runs: real nodes, real lmdb, real HTTP between them, anti-entropy wired.
  const demo = new LocalCluster({
    nodes: nodeCount,
    basePort: await freeBasePort(nodeCount),
    extend: extendWithAntiEntropy,
  });
  const browser = await openBrowser();
  try {
    await demo.startAll();
    const nodes = demo.configs.map((c) => c.id);
    await runDashboardScenario(browser.page, demo.url(nodes[0]!), {
      nodes,
      victim: nodes[nodes.length - 1]!,
      burst: 200,
      screenshot: 'dashboard',
    });
  } finally {
    await browser.close();
    await demo.close();
  }
});
