// History: a chart of the divergence estimate over time (sampled at every poll) with the sessions that ended
// and the keys each repaired, both in keys on one axis; and a table of the latest sessions.

import { h, s } from '../dom.js';
import { clock, count, durationMs } from '../format.js';
import { type DivergenceSample, keysRepaired, type SeenSession } from '../history-store.js';
import type { Actions, ViewState } from '../view.js';

const width = 1000;
const height = 220;
const pad = { left: 48, right: 12, top: 14, bottom: 26 };
const windowMsMin = 20_000;
const windowMsMax = 15 * 60_000;
const tableRowsMax = 8;

interface Scale {
  x(ms: number): number;
  y(keys: number): number;
  readonly fromMs: number;
  readonly toMs: number;
  readonly keysMax: number;
}

function niceMax(v: number): number {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((c) => c >= v) ?? v;
}

function scaleFor(
  sessions: readonly SeenSession[],
  samples: readonly DivergenceSample[],
  nowMs: number,
): Scale {
  const starts = [...sessions.map((e) => e.endedAtMs), ...samples.map((x) => x.atMs)];
  const fromMs = Math.max(nowMs - windowMsMax, Math.min(nowMs - windowMsMin, ...starts));
  const visible = (ms: number) => ms >= fromMs;
  const peaks = [
    ...sessions.filter((e) => visible(e.endedAtMs)).map(keysRepaired),
    ...samples.filter((x) => visible(x.atMs)).map((x) => x.keysEstimate ?? 0),
  ];
  const keysMax = niceMax(Math.max(1, ...peaks));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  return {
    fromMs,
    toMs: nowMs,
    keysMax,
    x: (ms) => pad.left + ((ms - fromMs) / (nowMs - fromMs)) * plotW,
    y: (keys) => pad.top + plotH - (Math.min(keys, keysMax) / keysMax) * plotH,
  };
}

function gridAndAxes(sc: Scale): SVGElement {
  const parts: SVGElement[] = [];
  for (const f of [0, 0.5, 1]) {
    const keys = Math.round(sc.keysMax * f);
    parts.push(
      s('line', { x1: pad.left, x2: width - pad.right, y1: sc.y(keys), y2: sc.y(keys), class: 'grid' }),
    );
    parts.push(
      s('text', { x: pad.left - 6, y: sc.y(keys) + 4, class: 'tick', 'text-anchor': 'end' }, count(keys)),
    );
  }
  for (const f of [0, 0.5, 1]) {
    const ms = sc.fromMs + f * (sc.toMs - sc.fromMs);
    const anchor = f === 0 ? 'start' : f === 1 ? 'end' : 'middle';
    parts.push(
      s(
        'text',
        { x: sc.x(ms), y: height - 6, class: 'tick', 'text-anchor': anchor },
        f === 1 ? 'now' : clock(ms),
      ),
    );
  }
  return s('g', {}, ...parts);
}

function divergenceArea(samples: readonly DivergenceSample[], sc: Scale): SVGElement | null {
  const pts = samples.filter((x) => x.atMs >= sc.fromMs && x.keysEstimate !== null);
  if (pts.length < 2) return null;
  const line = pts.map((x) => `${sc.x(x.atMs).toFixed(1)},${sc.y(x.keysEstimate!).toFixed(1)}`).join(' L');
  const base = sc.y(0).toFixed(1);
  const area = `M${sc.x(pts[0]!.atMs).toFixed(1)},${base} L${line} L${sc.x(pts[pts.length - 1]!.atMs).toFixed(1)},${base} Z`;
  return s(
    'g',
    {},
    s('path', { d: area, class: 'div-area' }),
    s('path', { d: `M${line}`, class: 'div-line' }),
  );
}

function sessionMarks(sessions: readonly SeenSession[], sc: Scale): SVGElement {
  const marks = sessions
    .filter((e) => e.endedAtMs >= sc.fromMs)
    .map((e) => {
      const x = sc.x(e.endedAtMs);
      const repaired = keysRepaired(e);
      const title = s(
        'title',
        {},
        `${e.initiator} → ${e.responder}: ${e.result}, ${repaired} keys repaired, ${durationMs(e.durationMs)}`,
      );
      const bar =
        repaired > 0
          ? s('rect', {
              x: x - 3,
              y: sc.y(repaired),
              width: 6,
              height: sc.y(0) - sc.y(repaired),
              class: `bar ${e.result}`,
            })
          : null;
      return s(
        'g',
        { class: 'session-mark' },
        bar,
        s('circle', { cx: x, cy: sc.y(0), r: 3.5, class: `dot ${e.result}` }),
        title,
      );
    });
  return s('g', {}, ...marks);
}

function legend(): HTMLElement {
  const item = (cls: string, label: string) =>
    h('span', { class: 'legend-item' }, h('i', { class: cls }), label);
  return h(
    'div',
    { class: 'legend' },
    item('lg-div', 'divergence (≈ keys differing, max over pairs)'),
    item('lg-bar', 'keys repaired by a session'),
    item('lg-dot converged', 'session: converged'),
    item('lg-dot repaired', 'repaired'),
    item('lg-dot failed', 'failed / cancelled'),
  );
}

function filterToggle(view: ViewState, actions: Actions): HTMLElement {
  const box = h('input', {
    type: 'checkbox',
    checked: view.history.onlyRepairs,
    'data-testid': 'history-only-repairs',
    onchange: () => {
      view.history.onlyRepairs = box.checked;
      actions.refresh();
    },
  });
  return h('label', { class: 'filter muted' }, box, ' only sessions that repaired something or failed');
}

function table(all: readonly SeenSession[], onlyRepairs: boolean): HTMLElement {
  const sessions = onlyRepairs ? all.filter((e) => e.result !== 'converged') : all;
  const latest = [...sessions].reverse().slice(0, tableRowsMax);
  if (latest.length === 0)
    return h(
      'p',
      { class: 'empty' },
      onlyRepairs ? 'No session has repaired anything yet.' : 'No session has ended yet.',
    );
  const rows = latest.map((e) =>
    h(
      'tr',
      { 'data-testid': 'history-row', 'data-result': e.result, 'data-ended': e.endedAtMs },
      h('td', {}, clock(e.endedAtMs)),
      h('td', {}, `${e.initiator} → ${e.responder}`),
      h('td', {}, h('span', { class: `result ${e.result}` }, e.result)),
      h('td', { class: 'num' }, count(e.keysDivergent)),
      h('td', { class: 'num' }, count(e.keysPulled)),
      h('td', { class: 'num' }, count(e.keysPushed)),
      h('td', { class: 'num' }, count(e.roundTrips)),
      h('td', { class: 'num' }, durationMs(e.durationMs)),
    ),
  );
  const head = [
    'ended',
    'initiator → peer',
    'result',
    'divergent',
    'pulled',
    'pushed',
    'round trips',
    'took',
  ];
  return h(
    'table',
    { class: 'history-table' },
    h('thead', {}, h('tr', {}, ...head.map((t, i) => h('th', { class: i >= 3 ? 'num' : '' }, t)))),
    h('tbody', {}, ...rows),
  );
}

export function renderHistory(body: HTMLElement, view: ViewState, actions: Actions): void {
  const sessions = view.history.sessionList();
  const samples = view.history.sampleList();
  const sc = scaleFor(sessions, samples, view.cluster.nowMs);
  const chart = s(
    'svg',
    {
      viewBox: `0 0 ${width} ${height}`,
      class: 'history-chart',
      role: 'img',
      'aria-label': 'divergence and repairs over time',
    },
    gridAndAxes(sc),
    divergenceArea(samples, sc),
    sessionMarks(sessions, sc),
  );
  body.replaceChildren(
    legend(),
    chart,
    filterToggle(view, actions),
    table(sessions, view.history.onlyRepairs),
  );
}
