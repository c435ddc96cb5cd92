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
    // A node whose disk is full, and one paused for a minute: each card says so.
    const [, n2] = cluster.nodes;
    n2!.storage = {
      state: 'failing',
      code: 'DISK_FULL',
      message: 'the disk is full',
      sinceMs: Date.now() - 5000,
      retryAtMs: Date.now() + 1000,
      failures: 2,
      refused: 7,
      recoveries: 0,
    };
    n2!.paused = true;
    n2!.pausedSinceMs = Date.now() - 60_000;
    const n2Card = browser.page.locator('[data-testid=node-card][data-node="n2"]');
    await n2Card
      .locator('[data-testid=storage-failing]', { hasText: 'storage: DISK_FULL' })
      .waitFor({ timeout: 10_000 });
    await n2Card
      .locator('[data-testid=ae-paused]', { hasText: /anti-entropy paused .* ago/ })
      .waitFor({ timeout: 10_000 });
  } finally {
    await browser.close();
    await cluster.close();
  }
});
