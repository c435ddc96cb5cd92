// The scenario controls of `converge demo`: write a burst, heal the network, run sessions now, pause or
// resume anti-entropy everywhere. Isolate, stop and start sit on each node's card. Built once, not on every
// poll, so an operator's input (the burst size) is never wiped by a refresh.

import type { ClusterView } from '../../src/server/dashboard/types.js';
import { api } from '../api.js';
import { h, termLink } from '../dom.js';
import type { Actions } from '../view.js';

export interface ControlsHandle {
  readonly element: HTMLElement;
  update(cluster: ClusterView): void;
}

function reachableIds(cluster: ClusterView): string[] {
  return cluster.nodes.filter((n) => n.reachable).map((n) => n.id);
}

function everyNode(cluster: () => ClusterView, action: 'run' | 'pause' | 'resume'): Promise<unknown> {
  return Promise.all(reachableIds(cluster()).map((id) => api.antiEntropy(id, action)));
}

export function buildControls(actions: Actions, latest: () => ClusterView): ControlsHandle {
  const countInput = h('input', {
    type: 'number',
    min: 1,
    max: 10000,
    value: 200,
    class: 'count',
    'aria-label': 'keys to write',
    'data-testid': 'burst-count',
  });
  const through = h(
    'select',
    { 'aria-label': 'coordinator node', 'data-testid': 'burst-node' },
    h('option', { value: '' }, 'any node'),
  );
  const button = (action: string, label: string, work: () => Promise<unknown>, cls = '') =>
    h(
      'button',
      { type: 'button', class: cls, 'data-action': action, onclick: () => actions.act(label, work) },
      label,
    );
  const burst = () => {
    const n = Math.max(1, Math.min(10_000, Math.floor(Number(countInput.value) || 1)));
    return api.writeBurst(n, through.value === '' ? undefined : through.value);
  };
  const element = h(
    'div',
    { class: 'controls' },
    h(
      'div',
      { class: 'control-group' },
      h('span', { class: 'control-label' }, 'Write ', termLink('consistency level', 'at consistency one')),
      countInput,
      h('span', { class: 'muted' }, 'keys through'),
      through,
      button('write-burst', 'Write burst', burst, 'primary'),
    ),
    h(
      'div',
      { class: 'control-group' },
      button('heal', 'Heal network', () => api.heal()),
      button('run-all', 'Run sessions now', () => everyNode(latest, 'run'), 'primary'),
      button('pause-all', 'Pause anti-entropy', () => everyNode(latest, 'pause')),
      button('resume-all', 'Resume', () => everyNode(latest, 'resume')),
    ),
    h(
      'p',
      { class: 'hint' },
      'Isolate, stop and start a node from its card. A scenario: isolate a node, write a burst, heal, run sessions now — and watch the divergence return to zero.',
    ),
  );
  let known = '';
  const update = (cluster: ClusterView) => {
    const ids = cluster.nodes.map((n) => n.id).join(',');
    if (ids === known) return;
    known = ids;
    const selected = through.value;
    through.replaceChildren(
      h('option', { value: '' }, 'any node'),
      ...cluster.nodes.map((n) => h('option', { value: n.id, selected: n.id === selected }, n.id)),
    );
  };
  return { element, update };
}
