// The ring: which node holds which partitions (from each node's status.ring), and per pair of nodes how many
// partitions they share and whether those ranges are equal (each node compares them on its pings). With
// RF < N a learner sees that two nodes compare only what they share; with N = RF every node holds them all.

import type { ClusterNodeView } from '../../src/server/dashboard/types.js';
import { h } from '../dom.js';
import { count } from '../format.js';
import { ownedPartitions } from '../model.js';
import type { ViewState } from '../view.js';
import { renderMembership } from './membership.js';

/** A strip of one cell per partition is drawn up to this many partitions; beyond, the runs as text. */
const stripPartitionsMax = 1024;

function runsText(runs: ReadonlyArray<readonly [number, number]>): string {
  return runs.map(([a, b]) => (a === b ? String(a) : `${a}–${b}`)).join(', ');
}

/** A joining member's partitions are all on their way to it; a leaving member's are on their way out. */
function strip(owned: ReadonlySet<number>, partitions: number, state: string | undefined): HTMLElement {
  const moving = state === 'joining' ? 'incoming' : state === 'leaving' ? 'outgoing' : '';
  const cells = Array.from({ length: partitions }, (_, p) =>
    h('span', {
      class: `ring-cell ${owned.has(p) ? `held ${moving}` : ''}`.trim(),
      title: `partition ${p}${owned.has(p) && moving !== '' ? ` (${moving})` : ''}`,
    }),
  );
  return h('div', { class: 'ring-strip', 'data-testid': 'ring-strip' }, ...cells);
}

/** The member's state as the serving node installed it (joining, normal, leaving); undefined without one. */
function memberState(view: ViewState, id: string): string | undefined {
  const self = view.cluster.nodes.find((n) => n.self)?.membership;
  return self?.members.find((m) => m.id === id)?.state;
}

function peerBadges(n: ClusterNodeView): HTMLElement {
  const badges = (n.status?.peers ?? []).map((p) => {
    const r = p.ring;
    const state =
      r === undefined
        ? 'unknown'
        : r.mismatch !== undefined
          ? 'mismatch'
          : r.equal === null
            ? 'unknown'
            : r.equal
              ? 'equal'
              : 'differ';
    const label = r === undefined ? `${p.id}: ?` : `${p.id}: ${count(r.shared)} shared, ${state}`;
    return h(
      'span',
      {
        class: `ring-peer ${state}`,
        'data-testid': 'ring-peer',
        'data-peer': p.id,
        title: r?.mismatch ?? '',
      },
      label,
    );
  });
  return h('div', { class: 'ring-peers' }, ...badges);
}

function row(view: ViewState, n: ClusterNodeView): HTMLElement {
  const ring = n.status?.ring;
  const owned = ownedPartitions(view.cluster, n.id);
  const state = memberState(view, n.id);
  const what =
    ring === undefined || owned === null
      ? 'no ring reported'
      : `holds ${count(owned.owned.size)} of ${count(ring.partitions)} partitions` +
        (owned.owned.size < ring.partitions ? `: ${runsText(ring.owned)}` : ' (every one)');
  return h(
    'div',
    {
      class: 'ring-row',
      'data-testid': 'ring-row',
      'data-node': n.id,
      'data-held': owned?.owned.size ?? '',
      'data-state': state ?? '',
    },
    h(
      'div',
      { class: 'ring-head' },
      h('strong', {}, n.id),
      ' ',
      state === undefined || state === 'normal' ? null : h('span', { class: `member-state ${state}` }, state),
      ' ',
      h('span', { class: 'ring-what' }, what),
    ),
    owned !== null && ring !== undefined && ring.partitions <= stripPartitionsMax
      ? strip(owned.owned, ring.partitions, state)
      : null,
    peerBadges(n),
  );
}

export function renderRing(body: HTMLElement, view: ViewState): void {
  const ring = view.cluster.nodes.find((n) => n.status?.ring !== undefined)?.status?.ring;
  const summary =
    ring === undefined
      ? 'The nodes report no ring.'
      : `${ring.members.length} members, replication factor ${ring.replicationFactor}, ` +
        `${count(ring.partitions)} partitions, ring epoch ${ring.epoch}.`;
  body.replaceChildren(
    h('p', { class: 'ring-summary', 'data-testid': 'ring-summary' }, summary),
    renderMembership(view) ?? '',
    ...view.cluster.nodes.map((n) => row(view, n)),
    h(
      'p',
      { class: 'hint' },
      'Each key lives on the replicas of its partition (its preference list). Two nodes compare and repair only ',
      'the partitions they share: "equal" means the digests of those ranges matched on the last ping.',
    ),
  );
}
