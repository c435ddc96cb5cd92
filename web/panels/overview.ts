// The headline: is the cluster converged, and if not, how far apart are its replicas; with a few totals.

import { h, replace } from '../dom.js';
import { count, durationMs, nounFor } from '../format.js';
import { keysRepaired } from '../history-store.js';
import { type Convergence, convergence, stalePairs } from '../model.js';
import type { ViewState } from '../view.js';

function stat(label: string, value: string, testid: string): HTMLElement {
  return h(
    'div',
    { class: 'stat', 'data-testid': testid },
    h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-label' }, label),
  );
}

/** [css class, title, subtitle] of the headline. */
function headlineOf(c: Convergence): [string, string, string] {
  if (c.kind === 'converged')
    return ['converged', 'Converged', `all ${c.nodes} replicas hold identical records`];
  if (c.kind === 'unknown')
    return ['unknown', 'Unknown', `cannot compare: ${c.unreachable.join(', ')} unreachable`];
  const away = c.unreachable.length > 0 ? `; ${c.unreachable.join(', ')} unreachable` : '';
  return [
    'diverging',
    `Diverging · ≈ ${count(c.keysEstimate)} keys`,
    `${c.pairs} pair(s) of replicas differ${away}`,
  ];
}

export function renderOverview(body: HTMLElement, view: ViewState): void {
  const c = convergence(view.cluster, view.pairs);
  const nodes = view.cluster.nodes;
  const reachable = nodes.filter((n) => n.reachable && n.status !== null).length;
  const running = nodes.reduce(
    (k, n) =>
      k +
      (n.antiEntropy?.peers.filter((p) => p.running !== null && p.running.initiator === n.id).length ?? 0),
    0,
  );
  const sessions = view.history.sessionList();
  const repaired = sessions.reduce((k, e) => k + keysRepaired(e), 0);
  const keys = c.kind === 'diverging' ? c.keysEstimate : c.kind === 'converged' ? 0 : null;
  const headline = headlineOf(c);
  const stale = stalePairs(view.cluster, view.staleAfterMs);
  const staleLine =
    stale.length === 0
      ? null
      : h(
          'div',
          { class: 'stale-warning', 'data-testid': 'stale-warning', 'data-pairs': stale.length },
          `⚠ ${stale.length === 1 ? '1 pair has' : `${stale.length} pairs have`} had no successful session for over `,
          `${durationMs(view.staleAfterMs)}: ${stale.map((p) => `${p.a}–${p.b}`).join(', ')}`,
        );
  replace(
    body,
    h(
      'div',
      {
        class: `headline ${headline[0]}`,
        'data-testid': 'divergence',
        'data-state': c.kind,
        'data-keys': keys ?? '',
      },
      h('div', { class: 'headline-title' }, headline[1]),
      h('div', { class: 'headline-sub' }, headline[2]),
    ),
    staleLine,
    h(
      'div',
      { class: 'stats' },
      stat('nodes reachable', `${reachable} / ${nodes.length}`, 'stat-reachable'),
      stat(`${nounFor(running, 'session')} running`, count(running), 'stat-running'),
      stat(`${nounFor(sessions.length, 'session')} seen`, count(sessions.length), 'stat-sessions'),
      stat('keys repaired (seen)', count(repaired), 'stat-repaired'),
    ),
  );
}
