// Node cards: one per node, with whether the serving node reaches it, what its peers think of it, its key
// count and digest root (coloured by group of equal roots), and the per-node controls.

import type { ClusterNodeView } from '../../src/server/dashboard/types.js';
import { api } from '../api.js';
import { h, kv } from '../dom.js';
import { ago, count, durationMs, shortRoot } from '../format.js';
import { type Actions, groupClass, type ViewState } from '../view.js';

function badges(node: ClusterNodeView, view: ViewState): HTMLElement {
  const demo = view.cluster.demo;
  const list: HTMLElement[] = [];
  if (node.self) list.push(h('span', { class: 'badge self' }, 'serving this page'));
  if (demo?.stopped.includes(node.id)) list.push(h('span', { class: 'badge bad' }, 'stopped'));
  if (demo?.isolated.includes(node.id)) list.push(h('span', { class: 'badge warn' }, 'isolated'));
  const storage = node.status?.storage;
  if (storage?.state === 'failing') {
    const since = storage.sinceMs === null ? '' : ` ${ago(storage.sinceMs, view.cluster.nowMs)}`;
    const title = `${storage.message ?? ''} — writes are refused and tried again; reads go on`;
    list.push(
      h(
        'span',
        { class: 'badge bad', title, 'data-testid': 'storage-failing' },
        `storage: ${storage.code}${since}`,
      ),
    );
  }
  if (node.antiEntropy?.paused) {
    const since = node.antiEntropy.pausedSinceMs ?? null;
    const title = since === null ? 'paused' : `paused since ${new Date(since).toISOString()}`;
    const text =
      since === null ? 'anti-entropy paused' : `anti-entropy paused ${ago(since, view.cluster.nowMs)}`;
    list.push(h('span', { class: 'badge warn', title, 'data-testid': 'ae-paused' }, text));
  }
  const clock = node.status?.clock;
  if (clock?.skewed === true)
    list.push(
      h(
        'span',
        { class: 'badge bad', title: clock.reason ?? '', 'data-testid': 'clock-skewed' },
        'clock skewed: not coordinating writes',
      ),
    );
  return h('div', { class: 'badges' }, ...list);
}

/** How the other nodes see this one: the cluster's own reachability, which the transport's faults affect. */
function seenBy(node: ClusterNodeView, view: ViewState): HTMLElement {
  const items = view.cluster.nodes
    .filter((other) => other.id !== node.id && other.status !== null)
    .map((other) => {
      const p = other.status?.peers.find((x) => x.id === node.id);
      const ok = p?.reachable === true;
      return h(
        'span',
        {
          class: `seen ${ok ? 'ok' : 'bad'}`,
          title: `${other.id} ${ok ? 'reaches' : 'cannot reach'} ${node.id}`,
        },
        `${ok ? '✓' : '✗'} ${other.id}`,
      );
    });
  return kv('seen by', h('span', {}, ...items));
}

function facts(node: ClusterNodeView, view: ViewState): HTMLElement {
  const st = node.status;
  if (st === null)
    return h('div', { class: 'unreachable-note' }, `No answer: ${node.error ?? 'unknown error'}`);
  const root = h(
    'code',
    {
      class: `root ${groupClass(view.groups.get(node.id))}`,
      title: st.digest.root,
      'data-testid': 'node-root',
    },
    shortRoot(st.digest.root),
  );
  return h(
    'div',
    { class: 'facts' },
    h('div', { class: 'big', 'data-testid': 'node-keys' }, count(st.keys), h('small', {}, ' keys')),
    kv('digest root', root),
    seenBy(node, view),
    kv('hints pending', count(st.hints?.pending ?? 0)),
    st.clock === undefined ? null : kv('clock', clockFact(st.clock)),
    kv('last session', lastSession(node, view.cluster.nowMs)),
    node.self ? null : kv('answered in', durationMs(node.latencyMs ?? 0), 'muted'),
  );
}

/**
 * The node's clock against its peers': the largest measured offset, and records it refused as stamped ahead.
 */
function clockFact(clock: NonNullable<NonNullable<ClusterNodeView['status']>['clock']>): string {
  const offsets = clock.peers.map((p) => p.offsetMs).filter((o): o is number => o !== null);
  const worst = offsets.reduce((m, o) => (Math.abs(o) > Math.abs(m) ? o : m), 0);
  const refused = Object.values(clock.refusedAhead).reduce((n, v) => n + v, 0);
  const state = clock.skewed
    ? 'SKEWED'
    : offsets.length === 0
      ? 'not measured'
      : `in step (peers within ${durationMs(Math.abs(worst))})`;
  return refused > 0 ? `${state} · refused ${count(refused)} stamped ahead` : state;
}

function lastSession(node: ClusterNodeView, nowMs: number): string {
  const last = node.antiEntropy?.history[0];
  if (last === undefined) return node.antiEntropy === null ? 'anti-entropy not reporting' : 'none yet';
  const why = last.error === null || last.error === '' ? '' : ` (${last.error})`;
  return `${last.result}${why} · ${last.peer} · ${ago(last.endedAtMs, nowMs)}`;
}

function controls(node: ClusterNodeView, view: ViewState, actions: Actions): HTMLElement {
  const demo = view.cluster.demo;
  const id = node.id;
  const btn = (action: string, label: string, work: () => Promise<unknown>, disabled = false) =>
    h(
      'button',
      {
        type: 'button',
        'data-action': action,
        'data-node': id,
        disabled,
        title:
          action === 'stop' && node.self
            ? 'This node serves this page: stop it from another node’s dashboard'
            : null,
        onclick: () => actions.act(`${label} ${id}`, work),
      },
      label,
    );
  const paused = node.antiEntropy?.paused === true;
  const list = [
    btn('run', 'Run session now', () => api.antiEntropy(id, 'run'), !node.reachable),
    btn(
      paused ? 'resume' : 'pause',
      paused ? 'Resume' : 'Pause',
      () => api.antiEntropy(id, paused ? 'resume' : 'pause'),
      !node.reachable,
    ),
  ];
  if (demo !== null) {
    const isolated = demo.isolated.includes(id);
    const stopped = demo.stopped.includes(id);
    list.push(btn('isolate', 'Isolate', () => api.isolate(id), isolated || stopped));
    list.push(
      stopped
        ? btn('start', 'Start', () => api.start(id))
        : btn('stop', 'Stop', () => api.stop(id), node.self),
    );
  }
  return h('div', { class: 'card-actions' }, ...list);
}

function card(node: ClusterNodeView, view: ViewState, actions: Actions): HTMLElement {
  const state = !node.reachable ? 'unreachable' : node.status === null ? 'broken' : 'reachable';
  const group = view.groups.get(node.id);
  return h(
    'article',
    {
      class: `node-card ${state} ${groupClass(group)}`,
      'data-testid': 'node-card',
      'data-node': node.id,
      'data-state': state,
    },
    h(
      'header',
      {},
      h('span', { class: `dot ${state}`, title: state }),
      h('h3', {}, node.id),
      h(
        'span',
        { class: 'reach' },
        state === 'reachable' ? 'reachable' : state === 'broken' ? 'answers oddly' : 'unreachable',
      ),
    ),
    h('div', { class: 'url muted', 'data-testid': 'node-url' }, node.url ?? location.origin),
    badges(node, view),
    facts(node, view),
    controls(node, view, actions),
  );
}

export function renderNodes(body: HTMLElement, view: ViewState, actions: Actions): void {
  body.replaceChildren(
    h('div', { class: 'node-grid' }, ...view.cluster.nodes.map((n) => card(n, view, actions))),
  );
}
