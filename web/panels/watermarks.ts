// Tombstone watermarks per node: up to when every peer is known to have compared and repaired with it, the
// cluster-wide minimum, and below which version time tombstones may be purged.

import type { ClusterNodeView } from '../../src/server/dashboard/types.js';
import { h } from '../dom.js';
import { ago, count } from '../format.js';
import type { ViewState } from '../view.js';

function row(n: ClusterNodeView, nowMs: number): HTMLElement {
  const w = n.antiEntropy?.watermark;
  const cell = (v: number | null | undefined) => h('td', {}, w === undefined ? '—' : ago(v ?? null, nowMs));
  return h(
    'tr',
    { 'data-testid': 'watermark-row', 'data-node': n.id },
    h('th', { scope: 'row' }, n.id),
    cell(w?.localMs),
    cell(w?.clusterMs),
    cell(w?.purgeBeforeMs),
    h('td', { class: 'num' }, w === undefined ? '—' : count(w.tombstonesPurged)),
  );
}

export function renderWatermarks(body: HTMLElement, view: ViewState): void {
  const head = h(
    'tr',
    {},
    h('th', {}, 'node'),
    h('th', {}, 'local watermark'),
    h('th', {}, 'cluster watermark'),
    h('th', {}, 'purge tombstones older than'),
    h('th', { class: 'num' }, 'tombstones purged'),
  );
  body.replaceChildren(
    h(
      'table',
      { class: 'plain' },
      h('thead', {}, head),
      h('tbody', {}, ...view.cluster.nodes.map((n) => row(n, view.cluster.nowMs))),
    ),
    h(
      'p',
      { class: 'hint' },
      'A tombstone is purged only once the cluster watermark (minus a grace) has passed its version: ',
      'by then every replica has been compared and repaired with every other, so the delete cannot come back.',
    ),
  );
}
