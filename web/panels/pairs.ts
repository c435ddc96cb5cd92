// The pair matrix: for every pair of replicas, whether their digests are equal and, when not, an estimate of
// how many keys differ (from the digest level the keyspace view uses), with their last session.

import type { ClusterNodeView } from '../../src/server/dashboard/types.js';
import { h } from '../dom.js';
import { ago, count, durationMs } from '../format.js';
import { findPair, pairStaleness, peerState } from '../model.js';
import type { ViewState } from '../view.js';

function lastSessionLine(view: ViewState, a: string, b: string): HTMLElement | null {
  const ab = peerState(view.cluster, a, b)?.last ?? null;
  const ba = peerState(view.cluster, b, a)?.last ?? null;
  const last = ab === null ? ba : ba === null ? ab : ab.endedAtMs >= ba.endedAtMs ? ab : ba;
  if (last === null) return null;
  return h(
    'div',
    { class: 'cell-note' },
    `last session ${last.result}, ${ago(last.endedAtMs, view.cluster.nowMs)}`,
  );
}

/**
 * The warning under a pair whose last successful session is older than the threshold, or that never had one.
 */
function staleNote(view: ViewState, a: string, b: string): HTMLElement | null {
  const st = pairStaleness(view.cluster, a, b, view.staleAfterMs);
  if (st.kind !== 'stale' && st.kind !== 'never') return null;
  const text =
    st.kind === 'never'
      ? '⚠ no successful session yet'
      : `⚠ last successful session ${durationMs(st.ageMs)} ago (over ${durationMs(view.staleAfterMs)})`;
  return h('div', { class: 'stale-note', 'data-testid': 'stale-note' }, text);
}

function cell(view: ViewState, row: ClusterNodeView, col: ClusterNodeView): HTMLElement {
  if (row.id === col.id) return h('td', { class: 'diag' }, '—');
  const pair = findPair(view.pairs, row.id, col.id);
  const st = pairStaleness(view.cluster, row.id, col.id, view.staleAfterMs).kind;
  const attrs = {
    'data-testid': 'pair-cell',
    'data-a': row.id,
    'data-b': col.id,
    'data-stale': String(st === 'stale' || st === 'never'),
  };
  if (pair === undefined || !pair.comparable) {
    const why = !row.reachable ? row.id : !col.reachable ? col.id : null;
    return h(
      'td',
      { ...attrs, class: 'pair unknown', 'data-equal': 'unknown' },
      h('div', { class: 'verdict' }, '?'),
      h('div', { class: 'cell-note' }, why === null ? 'no digest yet' : `${why} unreachable`),
      staleNote(view, row.id, col.id),
    );
  }
  if (pair.rootsEqual) {
    return h(
      'td',
      { ...attrs, class: 'pair equal', 'data-equal': 'true', 'data-keys': 0 },
      h('div', { class: 'verdict' }, '= equal'),
      lastSessionLine(view, row.id, col.id),
      staleNote(view, row.id, col.id),
    );
  }
  return h(
    'td',
    { ...attrs, class: 'pair differ', 'data-equal': 'false', 'data-keys': pair.keysEstimate },
    h('div', { class: 'verdict' }, `≈ ${count(pair.keysEstimate)} keys differ`),
    h(
      'div',
      { class: 'cell-note' },
      `${count(pair.differing.length)} of ${count(2 ** view.level)} prefixes differ`,
    ),
    lastSessionLine(view, row.id, col.id),
    staleNote(view, row.id, col.id),
  );
}

export function renderPairs(body: HTMLElement, view: ViewState): void {
  const nodes = view.cluster.nodes;
  const head = h('tr', {}, h('th', {}, ''), ...nodes.map((n) => h('th', { scope: 'col' }, n.id)));
  const rows = nodes.map((row) =>
    h('tr', {}, h('th', { scope: 'row' }, row.id), ...nodes.map((col) => cell(view, row, col))),
  );
  body.replaceChildren(
    h('table', { class: 'pair-matrix' }, h('thead', {}, head), h('tbody', {}, ...rows)),
    h(
      'p',
      { class: 'hint' },
      'Equal digest roots mean identical records. The key estimate compares the digest prefix by prefix: ',
      'a prefix whose hash differs counts the gap in its record counts, or one key when the counts match.',
    ),
  );
}
