// The dashboard's ring panel in Chromium on a five-node demo cluster with RF 3: each node's strip shows the
// partitions it holds (within one of P x RF / N), its peers' badges say how many partitions they share and
// that those ranges are equal, and the headline says converged although the nodes' digest roots differ.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openBrowser } from './dashboard-browser-scenario.js';
import { eventually, startCluster } from './helpers.js';

test('ring panel: who holds which partitions, shared ranges compared per pair', async () => {
  const browser = await openBrowser();
  const demo = await startCluster({ nodes: 5, settings: { 'replication-factor': '3' } }).catch(
    async (err) => {
      await browser.close();
      throw err;
    },
  );
  try {
    const n1 = demo.node('n1').ctx.node;
    await eventually(() => n1.status().peers.every((p) => p.reachable), 15_000, 'n1 to reach its peers');
    for (let i = 0; i < 50; i++) await n1.put(`ring-${i}`, new TextEncoder().encode(`v${i}`), 'quorum');
    const page = browser.page;
    await page.goto(`${demo.url('n1')}/#ring`);
    const rows = page.locator('[data-testid=ring-row]');
    await rows.nth(4).waitFor({ timeout: 15_000 });
    for (let i = 0; i < 5; i++) {
      const held = Number(await rows.nth(i).getAttribute('data-held'));
      assert.ok(held === 153 || held === 154, `node ${i + 1} holds ${held} partitions`);
      assert.equal(await rows.nth(i).locator('.ring-cell.held').count(), held);
    }
    // Every pair shares some partitions and, once pings have compared them, finds them equal.
    await page
      .locator('[data-testid=ring-row][data-node=n1] [data-testid=ring-peer].equal')
      .nth(3)
      .waitFor({ timeout: 15_000 });
    const badge = await page.locator('[data-testid=ring-row][data-node=n1] [data-peer=n2]').textContent();
    assert.match(badge ?? '', /^n2: \d+ shared, equal$/);
    await page.locator('[data-testid=divergence][data-state=converged]').waitFor({ timeout: 15_000 });
    const summary = await page.locator('[data-testid=ring-summary]').textContent();
    assert.equal(summary, '5 members, replication factor 3, 256 partitions, ring epoch 1.');
  } finally {
    await browser.close();
    await demo.close();
  }
});
