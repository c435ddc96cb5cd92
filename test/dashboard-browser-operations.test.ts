// The dashboard's operator controls in Chromium (Debian's, driven by playwright-core) on a real demo cluster:
// the serving node's URL and its disabled Stop, round axis ticks, setting a node's throttle, the warning on
// pairs without a recent successful session, a failed session's reason, cancelling a running session, a
// repair run across all pairs with its progress, and a stopped node drawn as unknown in the history chart.
// Screenshot: test-artifacts/dashboard-operations.png.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { AntiEntropyStatus } from '../src/antientropy/types.js';
import type { LocalCluster } from '../src/cli/cluster.js';
import { artifactsDir, openBrowser } from './dashboard-browser-scenario.js';
import { eventually, startCluster } from './helpers.js';

const waitMs = 45_000;

async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new Error(`operations, step "${name}": ${err instanceof Error ? err.message : String(err)}`);
  }
}

function click(page: Page, selector: string): Promise<void> {
  return page.locator(selector).first().click({ timeout: waitMs });
}

async function basics(page: Page, cluster: LocalCluster): Promise<void> {
  await step(
    'the serving node shows its URL with its scheme, and cannot be stopped from its page',
    async () => {
      const url = page.locator('[data-testid=node-card][data-node=n1] [data-testid=node-url]');
      await url.waitFor({ timeout: waitMs });
      assert.equal(await url.innerText(), cluster.url('n1'));
      assert.equal(await page.locator('[data-action=stop][data-node=n1]').isDisabled(), true);
      assert.equal(await page.locator('[data-action=stop][data-node=n2]').isDisabled(), false);
    },
  );
  await step('the chart’s key axis has round, evenly spaced ticks', async () => {
    const ticks = await page
      .locator('.history-chart text.ytick')
      .evaluateAll((els) => els.map((e) => Number((e.textContent ?? '').replace(/,/g, ''))));
    assert.ok(ticks.length >= 2, String(ticks));
    const step = ticks[1]! - ticks[0]!;
    for (const [i, t] of ticks.entries()) assert.equal(t, i * step, `ticks ${ticks.join(', ')}`);
  });
  await step('set n2’s repair throttle', async () => {
    await page.locator('[data-testid=throttle-node]').selectOption('n2');
    await page.locator('[data-testid=throttle-records]').fill('1234');
    await click(page, '[data-action=set-throttle]');
    await page.locator('[data-testid=throttles]', { hasText: 'n2 1,234' }).waitFor({ timeout: waitMs });
    assert.equal(cluster.node('n2').ctx.antiEntropy?.status().throttle.recordsPerSecondMax, 1234);
  });
  await step('a pair without a successful session for over the threshold is flagged', async () => {
    await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.pause()));
    const threshold = page.locator('[data-testid=stale-threshold]');
    await threshold.fill('1');
    await threshold.dispatchEvent('change');
    await page.locator('[data-testid=stale-warning]').waitFor({ timeout: waitMs });
    await page.locator('[data-testid=pair-cell][data-stale=true] [data-testid=stale-note]').first().waitFor();
    await threshold.fill('');
    await threshold.dispatchEvent('change');
    // Awaited: resuming writes the pause's end, and the cluster closes right after the test.
    await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.resume()));
  });
}

async function sessions(page: Page, cluster: LocalCluster): Promise<void> {
  await step('a failed session shows its reason', async () => {
    await click(page, '[data-action=isolate][data-node=n3]');
    await page.locator('[data-testid=node-card][data-node=n3] .badge', { hasText: 'isolated' }).waitFor();
    await click(page, '[data-action=run][data-node=n1]');
    await page
      .locator('[data-testid=session-error]', { hasText: 'n3 is unreachable' })
      .first()
      .waitFor({ timeout: waitMs });
    await click(page, '[data-action=heal]');
  });
  await step('cancel a slow session from its row', async () => {
    await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.pause()));
    await eventually(
      () =>
        [...cluster.running.values()].every((r) =>
          r.ctx.antiEntropy?.status().peers.every((p) => p.running === null),
        ),
      waitMs,
      'sessions idle',
    );
    // Without hints, so that n2 lacks the burst when the session begins (replayed hints would fill it first).
    await cluster.setMechanism(undefined, 'hints', false);
    await cluster.isolate('n2');
    await cluster.writeBurst(400, 'n1');
    await cluster.heal();
    await cluster.setMechanism(undefined, 'hints', true);
    // 400 records at 10 records/s: the session lasts about 40 s unless it is cancelled.
    cluster.node('n1').ctx.antiEntropy?.setThrottle({ recordsPerSecondMax: 10 });
    const n1 = (): AntiEntropyStatus => cluster.node('n1').ctx.antiEntropy!.status();
    const describe = (): string => {
      const st = n1();
      const peer = st.peers.find((p) => p.peer === 'n2');
      const last = st.history.slice(0, 3).map((e) => `${e.peer} ${e.result} (${e.error ?? 'no error'})`);
      return `n1→n2 running: ${peer?.running?.phase ?? 'no'}; last sessions: ${last.join('; ')}`;
    };
    // Its outcome is read from the page; a run still waiting its turn when the cluster closes rejects then.
    const slow = cluster
      .node('n1')
      .ctx.antiEntropy?.runNow('n2')
      .then(
        () => null,
        (err: unknown) => err,
      );
    // Repairing, not just running: an attempt that n2 refuses (busy a moment after the heal) shows as running
    // until it is refused, and a cancel between two attempts finds nothing to cancel.
    await eventually(
      () => n1().peers.find((p) => p.peer === 'n2')?.running?.phase === 'repairing',
      waitMs,
      'the slow session running',
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; ${describe()}`);
    });
    const running = (): boolean => n1().peers.find((p) => p.peer === 'n2')?.running != null;
    const cancelledOnNode = (): boolean =>
      n1().history.some((e) => e.peer === 'n2' && e.result === 'cancelled');
    // A poll can redraw the panel between the pointer's press and release, and the click then lands beside
    // the new row's button; the session is still running then, and the button is pressed again.
    for (let attempt = 1; !cancelledOnNode(); attempt++) {
      await click(
        page,
        '[data-testid=running-session][data-node=n1][data-peer=n2] [data-action=cancel]',
      ).catch(async (err: unknown) => {
        const live = await page.locator('[data-testid=live]').innerText();
        throw new Error(`${err instanceof Error ? err.message : String(err)}; page: ${live}; ${describe()}`);
      });
      await eventually(() => cancelledOnNode() || !running(), 10_000, 'the cancel').catch(() => undefined);
      if (cancelledOnNode()) break;
      if (attempt >= 3 || !running())
        assert.fail(`no cancelled session after ${attempt} clicks; ${describe()}`);
    }
    await page
      .locator('[data-testid=history-row][data-result=cancelled]')
      .locator('[data-testid=session-error]', { hasText: 'cancelled by an operator' })
      .first()
      .waitFor({ timeout: waitMs });
    cluster.node('n1').ctx.antiEntropy?.setThrottle({ recordsPerSecondMax: 50_000 });
    assert.equal(await slow, null, 'the run ended with its cancelled session');
  });
  await step('a repair run across all pairs ends with every pair done', async () => {
    await click(page, '[data-action=repair-all]');
    await page
      .locator('[data-testid=repair-run][data-ended=true][data-done="3"]')
      .waitFor({ timeout: waitMs * 2 });
    assert.equal(await page.locator('[data-testid=repair-pair][data-state=done]').count(), 3);
    // Awaited: resuming writes the pause's end, and the cluster closes right after the test.
    await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.resume()));
  });
}

test('dashboard operator controls on a running demo', async () => {
  const browser = await openBrowser();
  const cluster = await startCluster({
    settings: { hints: false, 'read-repair': false, 'ae-interval': '500ms' },
  }).catch(async (err) => {
    await browser.close();
    throw err;
  });
  const { page } = browser;
  try {
    await page.goto(`${cluster.url('n1')}/`);
    await basics(page, cluster);
    await sessions(page, cluster);
    await step('a stopped node makes the divergence unknown, drawn as such', async () => {
      await click(page, '[data-action=stop][data-node=n3]');
      await page.locator('[data-testid=divergence][data-state=unknown]').waitFor({ timeout: waitMs });
      await page
        .locator('[data-testid=unknown-band]')
        .first()
        .waitFor({ state: 'attached', timeout: waitMs });
      await click(page, '[data-action=start][data-node=n3]');
      await page.locator('[data-testid=divergence][data-state=converged]').waitFor({ timeout: waitMs * 2 });
    });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(artifactsDir, 'dashboard-operations.png'), fullPage: true });
  } finally {
    await browser.close();
    await cluster.close();
  }
});
