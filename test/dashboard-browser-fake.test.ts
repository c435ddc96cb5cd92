// The dashboard scenario in Chromium against the stand-in cluster: checks the page itself (rendering, the
// controls, the waits) independently of the real node, anti-entropy and demo. Screenshot:
// test-artifacts/dashboard-fake.png.

import { test } from 'node:test';
import { openBrowser, runDashboardScenario } from './dashboard-browser-scenario.js';
import { FakeCluster } from './dashboard-fake-cluster.js';

test('dashboard scenario against the stand-in cluster', async () => {
  // The browser first: if it cannot start, no cluster is left running behind the failure.
  const browser = await openBrowser();
  const cluster = new FakeCluster();
  await cluster.start(true).catch(async (err) => {
    await browser.close();
    throw err;
  });
  try {
    cluster.write(120, 'n1');
    await runDashboardScenario(browser.page, cluster.nodes[0]!.url, {
      nodes: ['n1', 'n2', 'n3'],
      victim: 'n3',
      burst: 40,
      screenshot: 'dashboard-fake',
    });
  } finally {
    await browser.close();
    await cluster.close();
  }
});
