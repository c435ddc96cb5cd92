// The dashboard of a real `converge demo` cluster in Chromium (Debian's, driven by playwright-core): three
// nodes in-process on loopback with anti-entropy wired, the page opened on the first, a node isolated through
// its card, a burst written, the network healed, sessions run from the page, and the divergence seen to
// return to zero. Screenshots: test-artifacts/dashboard.png (converged) and dashboard-diverging.png.

import { test } from 'node:test';
import { openBrowser, runDashboardScenario } from './dashboard-browser-scenario.js';
import { startCluster } from './helpers.js';

test('dashboard of a running demo: isolate, write, heal, repair, converge', async () => {
  // The LocalCluster that `converge demo` runs: real nodes, lmdb, HTTP between nodes, anti-entropy.
  // The browser first: if it cannot start, no cluster is left running behind the failure.
  const browser = await openBrowser();
  const demo = await startCluster().catch(async (err) => {
    await browser.close();
    throw err;
  });
  try {
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
