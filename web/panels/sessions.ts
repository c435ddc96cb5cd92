// Running sessions with a progress bar and ETA, and, when none runs, when the next ones are due.

import type { PeerAntiEntropyState, SessionProgress } from '../../src/antientropy/types.js';
import { api } from '../api.js';
import { h } from '../dom.js';
import { bytes, count, durationMs, inTime, nounFor, percent } from '../format.js';
import type { Actions, ViewState } from '../view.js';

function sessionRow(node: string, s: SessionProgress, nowMs: number, actions: Actions): HTMLElement {
  const eta = s.etaMs === null ? 'estimating…' : `ETA ${durationMs(s.etaMs)}`;
  return h(
    'div',
    { class: 'session', 'data-testid': 'running-session', 'data-node': node, 'data-peer': s.peer },
    h(
      'div',
      { class: 'session-head' },
      h('strong', {}, `${node} → ${s.peer}`),
      h('span', { class: `phase ${s.phase}` }, s.phase),
      s.resumed ? h('span', { class: 'badge' }, 'resumed') : null,
      h('span', { class: 'muted' }, `running ${durationMs(nowMs - s.startedAtMs)} · ${eta}`),
      h(
        'button',
        {
          type: 'button',
          class: 'small-button',
          'data-action': 'cancel',
          'data-node': node,
          'data-peer': s.peer,
          title:
            'End this session now; it is recorded as cancelled and the next one resumes where it stopped',
          onclick: () => actions.act(`Cancel ${node} → ${s.peer}`, () => api.cancelSession(node, s.peer)),
        },
        'Cancel',
      ),
    ),
    h(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-valuenow': Math.round(s.fraction * 100),
        'aria-valuemin': 0,
        'aria-valuemax': 100,
      },
      h('div', { class: 'bar', style: `width: ${percent(s.fraction)}` }),
      h('span', { class: 'progress-label' }, percent(s.fraction)),
    ),
    h(
      'div',
      { class: 'session-counts muted' },
      `${count(s.keysDivergent)} divergent · ${count(s.keysPulled)} pulled · ${count(s.keysPushed)} pushed · `,
      `${count(s.roundTrips)} ${nounFor(s.roundTrips, 'round trip')} · ${bytes(s.bytesSent + s.bytesReceived)} exchanged`,
    ),
  );
}

function nextDue(view: ViewState): HTMLElement {
  const due: Array<{ node: string; state: PeerAntiEntropyState }> = [];
  for (const n of view.cluster.nodes)
    for (const p of n.antiEntropy?.peers ?? []) due.push({ node: n.id, state: p });
  const scheduled = due
    .filter((d) => d.state.nextAtMs !== null)
    .sort((x, y) => x.state.nextAtMs! - y.state.nextAtMs!);
  const first = scheduled[0];
  if (first === undefined) {
    const anyAe = view.cluster.nodes.some((n) => n.antiEntropy !== null);
    return h(
      'p',
      { class: 'empty' },
      anyAe
        ? 'No session running, none scheduled (paused or disabled).'
        : 'Anti-entropy is not reporting on any node.',
    );
  }
  return h(
    'p',
    { class: 'empty' },
    'No session running. Next: ',
    h('strong', {}, `${first.node} → ${first.state.peer}`),
    ` ${inTime(first.state.nextAtMs, view.cluster.nowMs)}.`,
  );
}

export function renderSessions(body: HTMLElement, view: ViewState, actions: Actions): void {
  const rows: HTMLElement[] = [];
  for (const n of view.cluster.nodes) {
    for (const p of n.antiEntropy?.peers ?? []) {
      if (p.running !== null && p.running.initiator === n.id)
        rows.push(sessionRow(n.id, p.running, view.cluster.nowMs, actions));
    }
  }
  body.replaceChildren(rows.length > 0 ? h('div', { class: 'sessions' }, ...rows) : nextDue(view));
}
