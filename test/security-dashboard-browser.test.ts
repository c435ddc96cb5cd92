// The dashboard with client tokens on, in Chromium (Debian's, driven by playwright-core): the page asks for a
// token once, keeps it in sessionStorage only, sends it on every call (the peers' state arrives too, the
// serving node passing the token on), hides the operator controls from a read-only token and shows them to an
// operator token, whose pause then shows as "paused by ops-alice"; and asks again once the token is rotated
// out of the tokens file.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { artifactsDir, openBrowser } from './dashboard-browser-scenario.js';
import { eventually, startCluster } from './helpers.js';
import { writeTokens } from './security-operator-helpers.js';

const stepTimeoutMs = 15_000;

async function signInWith(page: Page, token: string): Promise<void> {
  await page.locator('[data-testid=login]').waitFor({ timeout: stepTimeoutMs });
  await page.locator('[data-testid=login-token]').fill(token);
  await page.locator('[data-testid=login-submit]').click();
}

const card = (page: Page, node: string) => page.locator(`[data-testid=node-card][data-node="${node}"]`);

test('dashboard, tokens on: sign in once; read-only sees no controls; an operator pauses', async () => {
  const tokens = writeTokens();
  const browser = await openBrowser();
  const cluster = await startCluster({
    nodes: 2,
    settings: { 'client-tokens-file': tokens.file, 'ae-interval': '1h', 'client-tokens-poll': '100ms' },
  }).catch(async (err) => {
    await browser.close();
    throw err;
  });
  const { page } = browser;
  try {
    await page.goto(cluster.url('n1'));
    await page.locator('[data-testid=login-message]', { hasText: 'requires a client token' }).waitFor();

    // A wrong token is refused and the form asks again.
    await signInWith(page, 'x'.repeat(64));
    await page.locator('[data-testid=login-message]', { hasText: 'did not accept this token' }).waitFor();

    await page.locator('[data-testid=login-token]').fill(tokens.reader);
    await page.locator('[data-testid=login-submit]').click();
    await page.locator('[data-testid=whoami]', { hasText: 'grafana · read-only' }).waitFor();
    // Both nodes answer: the page's token went to n1, and n1 passed it on to n2.
    for (const n of ['n1', 'n2']) await card(page, n).and(page.locator('[data-state=reachable]')).waitFor();
    await card(page, 'n1').locator('[data-action=pause]').waitFor({ state: 'attached' });
    assert.equal(
      await card(page, 'n1').locator('[data-action=pause]').isVisible(),
      false,
      'no pause for read-only',
    );
    assert.equal(
      await page.locator('[data-action=heal]').isVisible(),
      false,
      'no demo controls for read-only',
    );
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('converge.token'),
      local: localStorage.length,
      cookies: document.cookie,
    }));
    assert.deepEqual(stored, { session: tokens.reader, local: 0, cookies: '' });

    // Asked once: a reload keeps the session's token.
    await page.reload();
    await page.locator('[data-testid=whoami]', { hasText: 'grafana · read-only' }).waitFor();
    assert.equal(await page.locator('[data-testid=login]').count(), 0, 'no second prompt');

    await page.locator('[data-testid=sign-out]').click();
    await signInWith(page, tokens.operator);
    await page.locator('[data-testid=whoami]', { hasText: 'ops-alice · operator' }).waitFor();
    const pause = card(page, 'n2').locator('[data-action=pause]');
    await pause.waitFor({ state: 'visible', timeout: stepTimeoutMs });
    assert.equal(
      await page.locator('[data-action=heal]').isVisible(),
      true,
      'demo controls for the operator',
    );
    await pause.click();
    await page
      .locator('[data-testid=operator-note]', { hasText: /^n2: anti-entropy paused by ops-alice at / })
      .waitFor({ timeout: stepTimeoutMs });
    await eventually(
      () => cluster.node('n2').ctx.antiEntropy?.status().operator?.paused?.by === 'ops-alice',
      5_000,
      'n2 paused by ops-alice',
    );
    mkdirSync(artifactsDir, { recursive: true });
    await page.screenshot({ path: join(artifactsDir, 'dashboard-operator.png') });

    // The operator's token is rotated out of the file: the nodes reload it, and the page asks again.
    writeFileSync(tokens.file, `read-only ${tokens.reader} grafana\n`, { mode: 0o600 });
    await page
      .locator('[data-testid=login-message]', { hasText: 'no longer accepts this token' })
      .waitFor({ timeout: stepTimeoutMs });
    await page.locator('[data-testid=login-token]').fill(tokens.reader);
    await page.locator('[data-testid=login-submit]').click();
    await page.locator('[data-testid=whoami]', { hasText: 'grafana · read-only' }).waitFor();
  } finally {
    await browser.close();
    await cluster.close();
    rmSync(tokens.dir, { recursive: true, force: true });
  }
});
