// The glossary page in Chromium: `#/glossary` replaces the dashboard, lists every term, and each term's
// "shown in" link leads back to its panel on the dashboard.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { glossary } from '../web/glossary.js';
import { openBrowser } from './dashboard-browser-scenario.js';
import { FakeCluster } from './dashboard-fake-cluster.js';

test('glossary page: every term, and links back to the panels', async () => {
  // The browser first: if it cannot start, no cluster is left running behind the failure.
  const browser = await openBrowser();
  const cluster = new FakeCluster();
  await cluster.start(true).catch(async (err) => {
    await browser.close();
    throw err;
  });
  const { page } = browser;
  try {
    await page.goto(`${cluster.nodes[0]!.url}/#/glossary/watermark`);
    await page.locator('#glossary-watermark').waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal(await page.locator('[data-testid=glossary-term]').count(), glossary.length);
    assert.equal(
      await page.locator('#overview').isVisible(),
      false,
      'the dashboard is hidden on the glossary page',
    );
    await page.locator('#glossary-session a', { hasText: 'Running sessions' }).click();
    await page.locator('#sessions').waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal(await page.locator('#glossary-session').isVisible(), false);
    await page.locator('#sessions a.term', { hasText: 'session' }).first().click();
    await page.locator('#glossary-session').waitFor({ state: 'visible', timeout: 15_000 });
  } finally {
    await browser.close();
    await cluster.close();
  }
});
