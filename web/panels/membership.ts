// The membership part of the ring panel: the members with their state and share of partitions, and while a
// change runs, its partitions by step (pending → streamed → moved → cleaned), the streaming sessions that
// fill the new owners, the ETA, and what each old owner removed once the cleanup grace was over.

import { h } from '../dom.js';
import { count, durationMs, percent } from '../format.js';
import {
  type ChangeView,
  changeFraction,
  type MemberRow,
  type MembershipView,
  membershipView,
  type StreamingSession,
} from '../membership-model.js';
import type { ViewState } from '../view.js';

const steps = ['pending', 'streamed', 'moved', 'cleaned'] as const;

const stepHelp: Record<(typeof steps)[number], string> = {
  pending: 'streaming: written to old and new owners, counted and read on the old ones',
  streamed: 'caught up (equal range digests): counted on both',
  moved: 'the new owners serve it; the old copy waits for the cleanup grace',
  cleaned: 'the old owners removed their copy',
};

function memberRow(m: MemberRow): HTMLElement {
  const share = m.owned === m.ownedAfter ? count(m.owned) : `${count(m.owned)} → ${count(m.ownedAfter)}`;
  return h(
    'tr',
    {
      'data-testid': 'member-row',
      'data-node': m.id,
      'data-state': m.state,
      'data-owned': m.owned,
      'data-owned-after': m.ownedAfter,
      'data-records': m.records ?? '',
      'data-cleaned': m.cleanedRecords ?? '',
    },
    h('td', {}, h('strong', {}, m.id)),
    h('td', {}, h('span', { class: `member-state ${m.state}` }, m.state)),
    h('td', { class: 'num' }, share),
    h('td', { class: 'num' }, m.records === null ? '?' : count(m.records)),
    h('td', { class: 'num' }, m.cleanedRecords === null ? '?' : count(m.cleanedRecords)),
    h('td', { class: 'num' }, m.epoch === null ? '?' : String(m.epoch)),
  );
}

function membersTable(v: MembershipView): HTMLElement {
  const head = h(
    'tr',
    {},
    h('th', {}, 'member'),
    h('th', {}, 'state'),
    h('th', { class: 'num', title: 'partitions held now → once the change is done' }, 'partitions'),
    h('th', { class: 'num' }, 'records'),
    h(
      'th',
      { class: 'num', title: 'records removed because their partition moved away' },
      'removed (cleanup)',
    ),
    h('th', { class: 'num', title: 'the membership epoch the member has installed' }, 'epoch'),
  );
  return h(
    'table',
    { class: 'plain members', 'data-testid': 'members' },
    h('thead', {}, head),
    h('tbody', {}, ...v.members.map(memberRow)),
  );
}

/** One bar cut into the four steps, each as wide as its share of the moving partitions. */
function stepsBar(c: ChangeView): HTMLElement {
  const p = c.partitions;
  const parts = steps.map((s) =>
    h('div', {
      class: `step ${s}`,
      style: `width: ${p.total === 0 ? 0 : (p[s] * 100) / p.total}%`,
      title: `${s}: ${p[s]} — ${stepHelp[s]}`,
    }),
  );
  const legend = steps.map((s) =>
    h('span', { class: `step-key ${s}`, title: stepHelp[s], 'data-step': s }, `${s} ${count(p[s])}`),
  );
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'steps-bar', role: 'img', 'aria-label': `${percent(changeFraction(c))} streamed` },
      ...parts,
    ),
    h('div', { class: 'step-keys' }, ...legend, h('span', { class: 'muted' }, `of ${count(p.total)}`)),
  );
}

function sessionLine(s: StreamingSession): HTMLElement {
  const eta = s.etaMs === null ? '' : ` · ETA ${durationMs(s.etaMs)}`;
  return h(
    'li',
    { 'data-testid': 'streaming-session', 'data-node': s.node, 'data-peer': s.peer, 'data-pulled': s.pulled },
    h('strong', {}, `${s.node} ← ${s.peer}`),
    ` partitions ${s.range}: ${percent(s.fraction)}, ${count(s.pulled)} records pulled${eta}`,
  );
}

function streaming(v: MembershipView, c: ChangeView): HTMLElement {
  const pulled = c.sessions.reduce((n, s) => n + s.pulled, 0);
  const target = v.members.find((m) => m.id === c.member);
  const eta =
    c.partitions.pending === 0
      ? 'every range streamed'
      : c.etaMs === null
        ? 'ETA: measuring the rate'
        : `ETA ${durationMs(c.etaMs)}`;
  const holds =
    c.kind === 'decommission' || target?.records == null
      ? ''
      : `${c.member} holds ${count(target.records)} records · `;
  return h(
    'div',
    {
      class: 'membership-streaming',
      'data-testid': 'membership-streaming',
      'data-sessions': c.sessions.length,
      'data-pulled': pulled,
      'data-eta-ms': c.etaMs ?? '',
    },
    h('div', {}, `Streaming: ${holds}${count(pulled)} pulled by the running sessions · ${eta}`),
    c.sessions.length === 0 ? null : h('ul', { class: 'streaming-sessions' }, ...c.sessions.map(sessionLine)),
    c.stalled.length === 0
      ? null
      : h(
          'div',
          { class: 'stalled', 'data-testid': 'membership-stalled' },
          `stalled: ${c.stalled.map((s) => `partition ${s.partition} (${s.reason})`).join('; ')}`,
        ),
  );
}

function changeBlock(v: MembershipView, c: ChangeView): HTMLElement {
  const p = c.partitions;
  const what =
    c.kind === 'replace' ? `replace of ${c.replaced ?? '?'} by ${c.member}` : `${c.kind} of ${c.member}`;
  return h(
    'div',
    {
      class: 'membership-change',
      'data-testid': 'membership-change',
      'data-kind': c.kind,
      'data-member': c.member,
      'data-pending': p.pending,
      'data-streamed': p.streamed,
      'data-moved': p.moved,
      'data-cleaned': p.cleaned,
      'data-total': p.total,
    },
    h(
      'p',
      {},
      h('strong', {}, `Membership change: ${what}`),
      ` (since epoch ${c.sinceEpoch}${c.driver === null ? '' : `, driven by ${c.driver}`}): `,
      `${count(p.total)} partitions move. A pending partition's writes go to its old and new owners.`,
    ),
    stepsBar(c),
    streaming(v, c),
  );
}

function cleanupLine(v: MembershipView): HTMLElement {
  const by = v.members.filter((m) => (m.cleanedRecords ?? 0) > 0);
  const text =
    by.length === 0
      ? 'No records removed by a cleanup since the nodes started.'
      : `Cleanup: ${by.map((m) => `${m.id} removed ${count(m.cleanedRecords!)}`).join(', ')} records ` +
        'of partitions that moved away (after the cleanup grace).';
  return h(
    'p',
    { class: 'membership-cleanup', 'data-testid': 'membership-cleanup', 'data-removed': v.cleanedRecords },
    text,
  );
}

export function renderMembership(view: ViewState): HTMLElement | null {
  const v = membershipView(view.cluster);
  if (v === null) return null;
  return h(
    'div',
    {
      class: 'membership',
      'data-testid': 'membership',
      'data-epoch': v.epoch,
      'data-change': v.change?.kind ?? 'none',
    },
    v.change === null
      ? h('p', { class: 'muted' }, `Membership epoch ${v.epoch}: no change in progress.`)
      : changeBlock(v, v.change),
    membersTable(v),
    cleanupLine(v),
  );
}
