// The three repair mechanisms of each node — hinted handoff, read repair, anti-entropy — and the
// anti-entropy schedule. In demo mode (when the demo supports it) each switch can be flipped.

import type { ClusterNodeView, MechanismName } from '../../src/server/dashboard/types.js';
import { api } from '../api.js';
import { h } from '../dom.js';
import { count, durationMs } from '../format.js';
import type { Actions, ViewState } from '../view.js';

const labels: Record<MechanismName, string> = {
  hints: 'hinted handoff',
  readRepair: 'read repair',
  antiEntropy: 'anti-entropy',
};

function toggle(n: ClusterNodeView, m: MechanismName, switchable: boolean, actions: Actions): HTMLElement {
  const on = n.status?.mechanisms?.[m];
  if (on === undefined) return h('td', { class: 'muted' }, '—');
  const attrs = {
    class: `switch ${on ? 'on' : 'off'}`,
    type: 'button',
    role: 'switch',
    'aria-checked': on ? 'true' : 'false',
    'data-testid': 'mechanism',
    'data-node': n.id,
    'data-mechanism': m,
    disabled: !switchable,
    title: switchable
      ? `Switch ${labels[m]} ${on ? 'off' : 'on'} on ${n.id}`
      : 'Switchable in demo mode only',
    onclick: () =>
      actions.act(`${labels[m]} ${on ? 'off' : 'on'} on ${n.id}`, () => api.mechanism(n.id, m, !on)),
  };
  return h('td', {}, h('button', attrs, h('span', { class: 'knob' }), on ? 'on' : 'off'));
}

function schedule(n: ClusterNodeView): HTMLElement {
  const ae = n.antiEntropy;
  if (ae === null) return h('td', { class: 'muted' }, 'not reporting');
  const state = !ae.enabled ? 'disabled' : ae.paused ? 'paused' : `every ${durationMs(ae.intervalMs)}`;
  return h(
    'td',
    {},
    state,
    h('div', { class: 'muted small' }, `throttle ${count(ae.throttle.recordsPerSecondMax)} records/s`),
  );
}

export function renderMechanisms(body: HTMLElement, view: ViewState, actions: Actions): void {
  const switchable = view.cluster.demo?.mechanismsSwitchable === true;
  const head = h(
    'tr',
    {},
    h('th', {}, 'node'),
    ...Object.values(labels).map((l) => h('th', {}, l)),
    h('th', {}, 'anti-entropy schedule'),
  );
  const rows = view.cluster.nodes.map((n) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, n.id),
      toggle(n, 'hints', switchable, actions),
      toggle(n, 'readRepair', switchable, actions),
      toggle(n, 'antiEntropy', switchable, actions),
      schedule(n),
    ),
  );
  body.replaceChildren(
    h('table', { class: 'plain' }, h('thead', {}, head), h('tbody', {}, ...rows)),
    h(
      'p',
      { class: 'hint' },
      'Each mechanism can be switched off alone so its effect can be seen alone; only anti-entropy catches every cause of drift.',
    ),
  );
}
