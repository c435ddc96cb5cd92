// The browser scenario of the dashboard, shared by the test against the real demo cluster and the test
// against the stand-in cluster: open the page, see every node, isolate one through its card, write a burst,
// heal, run sessions now, and wait for a session to end and the divergence to return to zero. Every wait
// polls the page with a deadline; nothing sleeps a fixed time.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';
const stepTimeoutMs = 30_000;
const convergeTimeoutMs = 90_000;
export const artifactsDir = new URL('../test-artifacts/', import.meta.url).pathname;

export interface Browser {
  readonly page: Page;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath))
    throw new Error(`${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`);
  const profile = mkdtempSync(join(tmpdir(), 'converge-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return {
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      assert.deepEqual(errors, [], 'the page threw no error');
    },
  };
}

async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new Error(
      `dashboard scenario, step "${name}": ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function card(page: Page, node: string) {
  return page.locator(`[data-testid=node-card][data-node="${node}"]`);
}

/** A full-page screenshot from the top, so the sticky header sits where it belongs. */
async function snapshot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(artifactsDir, name), fullPage: true });
}

export interface ScenarioOptions {
  readonly nodes: readonly string[];
  /** The node to isolate; must not be the one serving the page (the page would lose its own node). */
  readonly victim: string;
  readonly burst: number;
  readonly screenshot: string;
}

export async function runDashboardScenario(page: Page, baseUrl: string, o: ScenarioOptions): Promise<void> {
  mkdirSync(artifactsDir, { recursive: true });
  const cards = page.locator('[data-testid=node-card]');
  await step('open the dashboard and see every node reachable', async () => {
    await page.goto(`${baseUrl}/`);
    for (const n of o.nodes)
      await card(page, n).and(page.locator('[data-state=reachable]')).waitFor({ timeout: stepTimeoutMs });
    assert.equal(await cards.count(), o.nodes.length);
  });
  await step(`isolate ${o.victim} from its card`, async () => {
    await page.locator(`[data-action=isolate][data-node="${o.victim}"]`).click({ timeout: stepTimeoutMs });
    await card(page, o.victim).locator('.badge', { hasText: 'isolated' }).waitFor({ timeout: stepTimeoutMs });
  });
  await step(`write a burst of ${o.burst} keys`, async () => {
    await page.locator('[data-testid=burst-count]').fill(String(o.burst));
    await page.locator('[data-action=write-burst]').click({ timeout: stepTimeoutMs });
    await page.locator('[data-testid=divergence][data-state=diverging]').waitFor({ timeout: stepTimeoutMs });
    await snapshot(page, `${o.screenshot}-diverging.png`);
  });
  await step('heal the network', async () => {
    await page.locator('[data-action=heal]').click({ timeout: stepTimeoutMs });
    await card(page, o.victim)
      .locator('.badge', { hasText: 'isolated' })
      .waitFor({ state: 'detached', timeout: stepTimeoutMs });
  });
  // Sessions may also start on their own schedule; any session that ends after this point will do.
  const runAtMs = Date.now();
  await step('run sessions now', async () => {
    await page.locator('[data-action=run-all]').click({ timeout: stepTimeoutMs });
    // The toast reports the outcome; a refused run (anti-entropy off or not wired) fails here, not by
    // timeout.
    const toast = page.locator('[data-testid=toast]', { hasText: 'Run sessions now:' });
    const refused = page.locator('[data-testid=toast]', { hasText: 'Run sessions now failed' });
    await toast.or(refused).waitFor({ timeout: convergeTimeoutMs });
    if (await refused.count()) throw new Error(await refused.innerText());
  });
  await step('see a session complete', async () => {
    // Hints may have repaired the replica first, so a session that found it converged counts too.
    await page.locator('[data-testid=history-only-repairs]').setChecked(false, { timeout: stepTimeoutMs });
    await page.waitForFunction(
      (since) =>
        Array.from(document.querySelectorAll<HTMLElement>('[data-testid=history-row]')).some(
          (row) => Number(row.dataset.ended) >= since && row.dataset.result !== 'failed',
        ),
      runAtMs,
      { timeout: convergeTimeoutMs, polling: 250 },
    );
  });
  await step('see the divergence return to zero', async () => {
    await page
      .locator('[data-testid=divergence][data-state=converged][data-keys="0"]')
      .waitFor({ timeout: convergeTimeoutMs });
    const equal = page.locator('[data-testid=pair-cell][data-equal=true]');
    const pairs = o.nodes.length * (o.nodes.length - 1);
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=pair-cell][data-equal=true]').length === n,
      pairs,
      { timeout: stepTimeoutMs },
    );
    assert.equal(await equal.count(), pairs);
  });
  await snapshot(page, `${o.screenshot}.png`);
}
