// The headline: is the cluster converged, and if not, how far apart are its replicas; with a few totals.

import { h, replace } from '../dom.js';
import { count, durationMs, nounFor } from '../format.js';
import { keysRepaired } from '../history-store.js';
import { type Convergence, convergence, incomingMembers, stalePairs } from '../model.js';
import type { ViewState } from '../view.js';

function stat(label: string, value: string, testid: string): HTMLElement {
  return h(
    'div',
    { class: 'stat', 'data-testid': testid },
    h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-label' }, label),
  );
}

const joined = (ids: readonly string[]): string => ids.join(', ');

/** The pairs with a member a membership change is filling: expected to differ until streamed. */
function streamingNote(c: Convergence): string {
  if (c.kind !== 'diverging' || c.streaming === undefined) return '';
  const s = c.streaming;
  return (
    `${s.pairs} pair(s) with ${joined(s.members)} differ on partitions still streaming to it ` +
    '(expected until the change moves them, not drift)'
  );
}

/** [css class, title, subtitle] of the headline. */
function headlineOf(c: Convergence): [string, string, string] {
  if (c.kind === 'converged')
    return ['converged', 'Converged', `all ${c.nodes} replicas hold identical records`];
  if (c.kind === 'unknown')
    return ['unknown', 'Unknown', `cannot compare: ${c.unreachable.join(', ')} unreachable`];
  const away = c.unreachable.length > 0 ? `; ${c.unreachable.join(', ')} unreachable` : '';
  // Only a membership change's streaming differs: no drift to warn of, the newcomer is being filled.
  if (c.pairs === 0 && c.streaming !== undefined) {
    const members = joined(c.streaming.members);
    return ['streaming', `${members} joining: streaming`, `${streamingNote(c)}${away}`];
  }
  const also = c.streaming === undefined ? '' : `; besides, ${streamingNote(c)}`;
  return [
    'diverging',
    `Diverging · ≈ ${count(c.keysEstimate)} keys`,
    `${c.pairs} pair(s) of replicas differ${also}${away}`,
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
  // A member being filled has had no successful session with its sources yet: its streaming sessions are
  // still running (shown in the membership block), which is not a pair left unrepaired.
  const incoming = incomingMembers(view.cluster);
  const stale = stalePairs(view.cluster, view.staleAfterMs).filter(
    (p) => !incoming.has(p.a) && !incoming.has(p.b),
  );
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
        'data-state': headline[0],
        'data-streaming-pairs': c.kind === 'diverging' ? (c.streaming?.pairs ?? 0) : 0,
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
