// The dashboard's entry point: builds the page shell once, polls the serving node at its own pace (one poll
// at a time, never overlapping), re-renders the panels from each poll, and routes between the dashboard and
// the glossary (`#/glossary`). Panel anchors (`#sessions`) scroll to the panel.

import './styles/base.css';
import './styles/panels.css';
import './styles/charts.css';
import type { ClusterDigestView, ClusterView } from '../src/server/dashboard/types.js';
import { api } from './api.js';
import { authElements, renderOperatorStrip, signIn } from './auth.js';
import { h, replace, slug, termLink } from './dom.js';
import { clock } from './format.js';
import { glossary, type PanelId, panelTitles, renderGlossary } from './glossary.js';
import { HistoryStore } from './history-store.js';
import { comparePairs, convergence, partialRing, rootGroups, staleAfterMs } from './model.js';
import { buildControls, type ControlsHandle } from './panels/controls.js';
import { renderHistory } from './panels/history.js';
import { renderKeyspace } from './panels/keyspace.js';
import { renderMechanisms } from './panels/mechanisms.js';
import { renderNodes } from './panels/nodes.js';
import { buildOperations, type OperationsHandle } from './panels/operations.js';
import { renderOverview } from './panels/overview.js';
import { renderPairs } from './panels/pairs.js';
import { renderRing } from './panels/ring.js';
import { renderSessions } from './panels/sessions.js';
import { renderWatermarks } from './panels/watermarks.js';
import type { Actions, Panel, ViewState } from './view.js';

const pollIntervalMs = 1_000;
const levelDefault = 6;

const panels: ReadonlyArray<{ id: PanelId; render: Panel; wide?: boolean }> = [
  { id: 'overview', render: renderOverview, wide: true },
  { id: 'nodes', render: renderNodes, wide: true },
  { id: 'ring', render: renderRing, wide: true },
  { id: 'pairs', render: renderPairs },
  { id: 'sessions', render: renderSessions },
  { id: 'keyspace', render: renderKeyspace, wide: true },
  { id: 'history', render: renderHistory, wide: true },
  { id: 'watermarks', render: renderWatermarks },
  { id: 'mechanisms', render: renderMechanisms },
];

const history = new HistoryStore();
const bodies = new Map<PanelId, HTMLElement>();
let cluster: ClusterView | null = null;
let digest: ClusterDigestView | null = null;
let level = levelDefault;
/** Set once the level was fitted to the ring, or chosen by the user (then it is theirs). */
let levelSettled = false;
let controls: ControlsHandle | null = null;
let operations: OperationsHandle | null = null;
/**
 * When a button was pressed and not yet released (null: none). Renders wait while it is recent; a release the
 * page never sees (the pointer left the window, a cancelled gesture) must not freeze the dashboard.
 */
let pointerDownAtMs: number | null = null;
const pointerHoldMaxMs = 3_000;
let pollTimer: ReturnType<typeof setTimeout> | undefined;

const dashboardEl = h('main', { class: 'dashboard' });
const glossaryEl = h('main', { class: 'glossary-page', hidden: true });
const statusEl = h('span', { class: 'live', 'data-testid': 'live' }, 'connecting…');
const toastEl = h('div', { class: 'toast', role: 'status', 'data-testid': 'toast', hidden: true });

function panelFrame(id: PanelId, wide: boolean): HTMLElement {
  const body = h('div', { class: 'panel-body' });
  bodies.set(id, body);
  const terms = glossary.filter((t) => t.panels.includes(id)).map((t) => termLink(t.term));
  return h(
    'section',
    { class: `panel ${wide ? 'wide' : ''}`, id },
    h(
      'header',
      { class: 'panel-head' },
      h('h2', {}, h('a', { href: `#${id}`, class: 'anchor' }, panelTitles[id])),
      h('span', { class: 'terms' }, ...terms),
    ),
    body,
  );
}

function buildShell(app: HTMLElement): void {
  const nav = h(
    'nav',
    {},
    h('a', { href: '#overview', class: 'nav-link', 'data-route': 'dashboard' }, 'Dashboard'),
    h('a', { href: '#/glossary', class: 'nav-link', 'data-route': 'glossary' }, 'Glossary'),
  );
  const header = h(
    'header',
    { class: 'top' },
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'logo' }, '◎'),
      'converge',
      h('span', { class: 'brand-sub' }, 'anti-entropy dashboard'),
    ),
    nav,
    statusEl,
    authElements().badge,
  );
  for (const p of panels) dashboardEl.append(panelFrame(p.id, p.wide === true));
  // Operations are built once, like the scenario controls, and sit after the running sessions.
  operations = buildOperations(actions);
  const opsFrame = panelFrame('operations', true);
  bodies.get('operations')!.append(operations.element);
  dashboardEl.insertBefore(opsFrame, dashboardEl.querySelector('#keyspace'));
  replace(app, header, toastEl, authElements().strip, dashboardEl, glossaryEl);
}

/** The demo's controls panel appears after the first poll says we are in demo mode. */
function ensureControls(c: ClusterView): void {
  if (c.demo === null || controls !== null) return;
  controls = buildControls(actions, () => cluster ?? c);
  const frame = panelFrame('controls', true);
  bodies.get('controls')!.append(controls.element);
  dashboardEl.insertBefore(frame, dashboardEl.children[1] ?? null);
}

function render(): void {
  if (cluster === null) return;
  if (pointerDownAtMs !== null && Date.now() - pointerDownAtMs < pointerHoldMaxMs) return;
  ensureControls(cluster);
  controls?.update(cluster);
  operations?.update(cluster);
  renderOperatorStrip(cluster);
  const pairs = digest === null ? [] : comparePairs(digest, cluster);
  const stale = staleAfterMs(cluster, operations?.chosenStaleAfterMs() ?? null);
  const view: ViewState = {
    cluster,
    digest,
    pairs,
    groups: rootGroups(cluster),
    history,
    level,
    staleAfterMs: stale,
  };
  for (const p of panels) p.render(bodies.get(p.id)!, view, actions);
}

/**
 * With RF < N, pairs compare only the partitions both hold, which needs prefixes no wider than a partition:
 * the first poll raises the level to the partitions' (log2 P; 8 or 10). True when the level changed.
 */
function fitLevelToRing(c: ClusterView): boolean {
  if (levelSettled) return false;
  levelSettled = true;
  const ring = c.nodes.find((n) => n.status?.ring !== undefined)?.status?.ring;
  if (ring === undefined || !partialRing(c)) return false;
  // The keyspace panel offers levels 4, 6, 8 and 10 (the digest-level route's maximum).
  const bits = Math.log2(ring.partitions);
  const fitted = bits <= level ? level : bits <= 8 ? 8 : 10;
  if (fitted === level) return false;
  level = fitted;
  return true;
}

async function poll(): Promise<void> {
  clearTimeout(pollTimer);
  try {
    const [c, d] = await Promise.all([api.cluster(), api.digest(level).catch(() => null)]);
    cluster = c;
    digest = d;
    history.addCluster(c);
    if (fitLevelToRing(c)) return void poll();
    const conv = convergence(c, d === null ? [] : comparePairs(d, c));
    // With a node unreachable the divergence is unknown (the reachable pairs give only a lower bound): the
    // chart draws it as unknown, not as a number.
    const known = conv.kind === 'converged' || (conv.kind === 'diverging' && conv.unreachable.length === 0);
    history.addSample({
      atMs: c.nowMs,
      keysEstimate: !known ? null : conv.kind === 'diverging' ? conv.keysEstimate : 0,
    });
    statusEl.textContent = `live · ${c.self} · ${clock(c.nowMs)}`;
    statusEl.className = 'live ok';
    render();
  } catch (err) {
    statusEl.textContent = `no answer from the node (${err instanceof Error ? err.message : String(err)})`;
    statusEl.className = 'live bad';
  }
  // An action's poll may overlap the timer's: only one next poll stays scheduled.
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => void poll(), pollIntervalMs);
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;
function toast(text: string, bad: boolean): void {
  toastEl.textContent = text;
  toastEl.className = `toast ${bad ? 'bad' : 'ok'}`;
  toastEl.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toastEl.hidden = true;
  }, 4_000);
}

/**
 * A one-line outcome for the toast: burst counts, ended sessions, or "started" when a run outlasts the wait.
 */
function describeResult(label: string, result: unknown): string {
  const parts = (Array.isArray(result) ? result : [result]) as Array<Record<string, unknown> | null>;
  const burst = parts[0];
  if (typeof burst?.written === 'number')
    return `${label}: ${burst.written} keys written, ${String(burst.failed ?? 0)} failed`;
  const sessions = parts.flatMap((p) =>
    Array.isArray(p?.sessions) ? (p.sessions as Array<Record<string, unknown>>) : [],
  );
  const started = parts.some((p) => p?.accepted === true);
  if (sessions.length > 0) {
    const keys = sessions.reduce((n, s) => n + Number(s.keysPulled ?? 0) + Number(s.keysPushed ?? 0), 0);
    return `${label}: ${sessions.length} session(s) ended, ${keys} keys repaired${started ? ', more still running' : ''}`;
  }
  return started ? `${label}: started — follow it under Running sessions` : `${label}: done`;
}

const actions: Actions = {
  act(label, work) {
    toast(`${label}…`, false);
    work()
      .then(
        (result) => toast(describeResult(label, result), false),
        (err: unknown) => toast(`${label} failed: ${err instanceof Error ? err.message : String(err)}`, true),
      )
      .finally(() => void poll());
  },
  refresh() {
    render();
  },
  setLevel(l) {
    levelSettled = true;
    level = l;
    void poll();
  },
};

function route(): void {
  const hash = location.hash;
  const onGlossary = hash.startsWith('#/glossary');
  dashboardEl.hidden = onGlossary;
  glossaryEl.hidden = !onGlossary;
  document.querySelectorAll<HTMLAnchorElement>('.nav-link').forEach((a) => {
    a.classList.toggle('active', (a.dataset.route === 'glossary') === onGlossary);
  });
  if (onGlossary) {
    if (glossaryEl.childElementCount === 0) glossaryEl.append(renderGlossary());
    const term = hash.slice('#/glossary/'.length);
    focusElement(term.length > 0 ? `glossary-${slug(decodeURIComponent(term))}` : null);
  } else {
    focusElement(hash.length > 1 ? hash.slice(1) : null);
  }
}

/** Scrolls to an element and flashes it; hash routing means the browser cannot do it for us. */
function focusElement(id: string | null): void {
  if (id === null) {
    window.scrollTo(0, 0);
    return;
  }
  const el = document.getElementById(id);
  if (el === null) return;
  el.scrollIntoView({ block: 'start' });
  el.classList.remove('flash');
  void el.offsetWidth; // restart the highlight animation
  el.classList.add('flash');
}

function start(): void {
  const app = document.getElementById('app')!;
  buildShell(app);
  // A refresh between mousedown and mouseup would swallow the click: hold renders while a button is pressed.
  document.addEventListener('pointerdown', () => {
    pointerDownAtMs = Date.now();
  });
  const released = (): void => {
    pointerDownAtMs = null;
    setTimeout(render, 0);
  };
  document.addEventListener('pointerup', released);
  document.addEventListener('pointercancel', released);
  window.addEventListener('blur', released);
  window.addEventListener('hashchange', route);
  route();
  // With client tokens on, nothing is polled before the node accepts a token.
  signIn().then(
    () => void poll(),
    (err: unknown) => {
      statusEl.textContent = `cannot sign in (${err instanceof Error ? err.message : String(err)})`;
      statusEl.className = 'live bad';
    },
  );
}

start();
