// The membership part of the ring panel: the members with their state and share of partitions, and while a
// change runs, its partitions by step (pending → streamed → moved → cleaned), the streaming sessions that
// fill the new owners, the ETA, and what each old owner removed once the cleanup grace was over.

import { h } from '../dom.js';
import { count, durationMs, nounFor, percent } from '../format.js';
import {
  type ChangeView,
  changeFraction,
  type FillEstimate,
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
  const share = s.divergent > 0 ? ` (${percent(s.pulled / s.divergent)})` : '';
  return h(
    'li',
    { 'data-testid': 'streaming-session', 'data-node': s.node, 'data-peer': s.peer, 'data-pulled': s.pulled },
    h('strong', {}, `${s.node} ← ${s.peer}`),
    ` partitions ${s.range}: ${count(s.pulled)} of ${count(s.divergent)} missing records pulled${share}${eta}`,
  );
}

/** The newcomer's fill as a bar: its records in its partitions against the fullest old copies. */
function fillBar(member: string, fill: FillEstimate): HTMLElement {
  const fraction = fill.target === 0 ? 1 : Math.min(1, fill.held / fill.target);
  return h(
    'div',
    {
      class: 'progress fill',
      role: 'progressbar',
      'data-testid': 'membership-fill',
      'data-held': fill.held,
      'data-target': fill.target,
      'aria-valuenow': Math.round(fraction * 100),
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      title: `${member}'s records in the partitions it takes, against the most any other member holds of each`,
    },
    h('div', { class: 'bar', style: `width: ${percent(fraction)}` }),
    h(
      'span',
      { class: 'progress-label' },
      `${member} holds ${count(fill.held)} of ≈ ${count(fill.target)} records of its partitions (${percent(fraction)})`,
    ),
  );
}

function streaming(c: ChangeView): HTMLElement {
  const pulled = c.sessions.reduce((n, s) => n + s.pulled, 0);
  const eta =
    c.partitions.pending === 0
      ? 'every range streamed'
      : c.etaMs === null
        ? 'ETA: measuring the rate'
        : `ETA ${durationMs(c.etaMs)}`;
  return h(
    'div',
    {
      class: 'membership-streaming',
      'data-testid': 'membership-streaming',
      'data-sessions': c.sessions.length,
      'data-pulled': pulled,
      'data-eta-ms': c.etaMs ?? '',
    },
    c.fill === null ? null : fillBar(c.member, c.fill),
    h(
      'div',
      {},
      `Streaming: ${count(c.sessions.length)} ${nounFor(c.sessions.length, 'session')} running, `,
      `${count(pulled)} records pulled so far · ${eta}`,
    ),
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

function changeBlock(c: ChangeView): HTMLElement {
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
    streaming(c),
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
  const v = membershipView(view.cluster, view.digest);
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
      : changeBlock(v.change),
    membersTable(v),
    cleanupLine(v),
  );
}
