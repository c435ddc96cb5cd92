// What an operator of a repair tool expects beside the picture: a repair run across every pair with its
// overall progress, the repair throttle of each node, and the threshold past which a pair whose last
// successful session is too old gets a warning. Built once, like the scenario controls, so what the operator
// types survives the refresh on every poll; update() fills in the live parts.

import type { ClusterView, RepairRunView } from '../../src/server/dashboard/types.js';
import { api } from '../api.js';
import { h } from '../dom.js';
import { count, durationMs, percent } from '../format.js';
import { peerState, staleAfterMs } from '../model.js';
import type { Actions } from '../view.js';

const thresholdKey = 'converge.staleAfterMs';
const throttleMax = 10_000_000;

export interface OperationsHandle {
  readonly element: HTMLElement;
  update(cluster: ClusterView): void;
  /** The staleness threshold the operator chose, or null for the default. */
  chosenStaleAfterMs(): number | null;
}

function storedThreshold(): number | null {
  const v = Number(localStorage.getItem(thresholdKey) ?? '');
  return Number.isFinite(v) && v > 0 ? v : null;
}

/** Share of the run done: ended pairs, plus the running pair's session progress. */
function runFraction(run: RepairRunView, cluster: ClusterView): number {
  if (run.total === 0) return 1;
  const running = run.pairs.find((p) => p.state === 'running');
  const partial =
    running === undefined ? 0 : (peerState(cluster, running.a, running.b)?.running?.fraction ?? 0);
  return Math.min(1, (run.done + partial) / run.total);
}

function runView(run: RepairRunView | null | undefined, cluster: ClusterView): HTMLElement {
  if (run === null || run === undefined) return h('p', { class: 'muted' }, 'No repair run yet.');
  const keys = run.pairs.reduce((k, p) => k + p.keysRepaired, 0);
  const failed = run.pairs.filter((p) => p.state === 'failed').length;
  const fraction = run.endedAtMs === null ? runFraction(run, cluster) : 1;
  const took = (run.endedAtMs ?? cluster.nowMs) - run.startedAtMs;
  const summary =
    `${run.done} of ${run.total} pairs · ${count(keys)} keys repaired` +
    (failed > 0 ? ` · ${failed} failed` : '') +
    (run.endedAtMs === null ? ` · running ${durationMs(took)}` : ` · finished in ${durationMs(took)}`);
  const pairs = run.pairs.map((p) =>
    h(
      'li',
      { 'data-testid': 'repair-pair', 'data-state': p.state, class: `repair-pair ${p.state}` },
      `${p.a} ↔ ${p.b}: ${p.state}`,
      p.result === null ? null : ` (${p.result}, ${count(p.keysRepaired)} keys)`,
      p.error === null ? null : h('span', { class: 'reason' }, ` — ${p.error}`),
    ),
  );
  return h(
    'div',
    {
      'data-testid': 'repair-run',
      'data-done': run.done,
      'data-total': run.total,
      'data-ended': String(run.endedAtMs !== null),
    },
    h(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-valuenow': Math.round(fraction * 100),
        'aria-valuemin': 0,
        'aria-valuemax': 100,
      },
      h('div', { class: 'bar', style: `width: ${percent(fraction)}` }),
      h('span', { class: 'progress-label' }, percent(fraction)),
    ),
    h('div', { class: 'muted' }, summary),
    h('ul', { class: 'repair-pairs' }, ...pairs),
  );
}

export function buildOperations(actions: Actions): OperationsHandle {
  let chosen = storedThreshold();
  const runBox = h('div', {});
  const throttles = h('div', { class: 'muted small', 'data-testid': 'throttles' });
  const node = h('select', { 'aria-label': 'node to throttle', 'data-testid': 'throttle-node' });
  const records = h('input', {
    type: 'number',
    min: 1,
    max: throttleMax,
    class: 'count',
    'aria-label': 'records per second',
    'data-testid': 'throttle-records',
  });
  const threshold = h('input', {
    type: 'number',
    min: 1,
    class: 'count',
    'aria-label': 'staleness threshold in seconds',
    'data-testid': 'stale-threshold',
    value: chosen === null ? '' : String(chosen / 1000),
    onchange: () => {
      const s = Number(threshold.value);
      chosen = Number.isFinite(s) && s > 0 ? s * 1000 : null;
      if (chosen === null) localStorage.removeItem(thresholdKey);
      else localStorage.setItem(thresholdKey, String(chosen));
      actions.refresh();
    },
  });
  const thresholdNote = h('span', { class: 'muted' });
  let latest: ClusterView | null = null;
  const setThrottle = () => {
    const n = Math.floor(Number(records.value));
    if (!(n >= 1 && n <= throttleMax))
      return Promise.reject(new Error(`records per second must be 1 to ${count(throttleMax)}`));
    const ids =
      node.value === '' ? (latest?.nodes.filter((x) => x.reachable).map((x) => x.id) ?? []) : [node.value];
    return Promise.all(ids.map((id) => api.throttle(id, n)));
  };
  const button = (action: string, label: string, work: () => Promise<unknown>, cls = '') =>
    h(
      'button',
      { type: 'button', class: cls, 'data-action': action, onclick: () => actions.act(label, work) },
      label,
    );
  const element = h(
    'div',
    { class: 'controls operations' },
    h(
      'div',
      { class: 'control-group' },
      button(
        'repair-all',
        'Repair all pairs',
        async () => {
          await api.repairAllPairs();
          return { accepted: true };
        },
        'primary',
      ),
      h('span', { class: 'muted' }, 'one session per pair of replicas, pair after pair'),
    ),
    runBox,
    h(
      'div',
      { class: 'control-group' },
      h('span', { class: 'control-label' }, 'Repair throttle'),
      node,
      records,
      h('span', { class: 'muted' }, 'records/s'),
      button('set-throttle', 'Set throttle', setThrottle),
    ),
    throttles,
    h(
      'div',
      { class: 'control-group' },
      h('span', { class: 'control-label' }, 'Warn when a pair’s last successful session is older than'),
      threshold,
      h('span', { class: 'muted' }, 's'),
      thresholdNote,
    ),
  );
  let knownIds = '';
  const update = (cluster: ClusterView) => {
    latest = cluster;
    runBox.replaceChildren(runView(cluster.repairRun, cluster));
    throttles.textContent = `now: ${cluster.nodes
      .map(
        (n) => `${n.id} ${n.antiEntropy === null ? '—' : count(n.antiEntropy.throttle.recordsPerSecondMax)}`,
      )
      .join(' · ')} records/s`;
    thresholdNote.textContent =
      chosen === null
        ? `(empty: ${durationMs(staleAfterMs(cluster, null))}, ten anti-entropy intervals)`
        : '';
    const ids = cluster.nodes.map((n) => n.id).join(',');
    if (ids === knownIds) return;
    knownIds = ids;
    const selected = node.value;
    node.replaceChildren(
      h('option', { value: '' }, 'every node'),
      ...cluster.nodes.map((n) => h('option', { value: n.id, selected: n.id === selected }, n.id)),
    );
  };
  return { element, update, chosenStaleAfterMs: () => chosen };
}
