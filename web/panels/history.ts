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

/** Round tick values from 0 to `max` (a niceMax), at most five steps: 0–5 by 1, 0–20 by 5, 0–200 by 50. */
export function niceTicks(max: number): number[] {
  const p = 10 ** Math.floor(Math.log10(Math.max(1, max)));
  const step = [p / 10, p / 5, p / 2, p, 2 * p, 5 * p].find((c) => c >= 1 && max / c <= 5) ?? max;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Math.round(v));
  return out;
}

function gridAndAxes(sc: Scale): SVGElement {
  const parts: SVGElement[] = [];
  for (const keys of niceTicks(sc.keysMax)) {
    parts.push(
      s('line', { x1: pad.left, x2: width - pad.right, y1: sc.y(keys), y2: sc.y(keys), class: 'grid' }),
    );
    parts.push(
      s(
        'text',
        { x: pad.left - 6, y: sc.y(keys) + 4, class: 'tick ytick', 'text-anchor': 'end' },
        count(keys),
      ),
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

/**
 * Splits the samples into runs of known values and spans of unknown ones (a node did not answer). A known run
 * is never joined across an unknown span: that would draw a divergence nobody measured.
 */
export function segments(
  samples: readonly DivergenceSample[],
  fromMs: number,
): { known: DivergenceSample[][]; unknown: Array<{ fromMs: number; toMs: number | null }> } {
  const known: DivergenceSample[][] = [];
  const unknown: Array<{ fromMs: number; toMs: number | null }> = [];
  let run: DivergenceSample[] = [];
  for (const x of samples) {
    if (x.atMs < fromMs) continue;
    if (x.keysEstimate === null) {
      if (run.length > 0) known.push(run);
      run = [];
      const open = unknown[unknown.length - 1];
      if (open === undefined || open.toMs !== null) unknown.push({ fromMs: x.atMs, toMs: null });
      continue;
    }
    const open = unknown[unknown.length - 1];
    if (open !== undefined && open.toMs === null) open.toMs = x.atMs;
    run.push(x);
  }
  if (run.length > 0) known.push(run);
  return { known, unknown };
}

function knownRun(pts: readonly DivergenceSample[], sc: Scale): SVGElement {
  const line = pts
    .map((x) => `${sc.x(x.atMs).toFixed(1)},${sc.y(x.keysEstimate ?? 0).toFixed(1)}`)
    .join(' L');
  const base = sc.y(0).toFixed(1);
  const area = `M${sc.x(pts[0]!.atMs).toFixed(1)},${base} L${line} L${sc.x(pts[pts.length - 1]!.atMs).toFixed(1)},${base} Z`;
  return s(
    'g',
    { 'data-testid': 'divergence-run' },
    s('path', { d: area, class: 'div-area' }),
    s('path', { d: `M${line}`, class: 'div-line' }),
  );
}

function divergenceArea(samples: readonly DivergenceSample[], sc: Scale): SVGElement {
  const { known, unknown } = segments(samples, sc.fromMs);
  const bands = unknown.map((u) => {
    const x0 = sc.x(u.fromMs);
    const x1 = sc.x(u.toMs ?? sc.toMs);
    return s(
      'rect',
      {
        x: x0,
        y: pad.top,
        width: Math.max(2, x1 - x0),
        height: sc.y(0) - pad.top,
        class: 'unknown-band',
        'data-testid': 'unknown-band',
      },
      s('title', {}, 'divergence unknown: a node did not answer'),
    );
  });
  return s('g', {}, ...bands, ...known.filter((r) => r.length >= 2).map((r) => knownRun(r, sc)));
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
        `${e.initiator} → ${e.responder}: ${e.result}${e.error ? ` (${e.error})` : ''}, ${repaired} keys repaired, ${durationMs(e.durationMs)}`,
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
    item('lg-unknown', 'unknown (a node did not answer)'),
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
      h(
        'td',
        {},
        h('span', { class: `result ${e.result}`, title: e.error ?? '' }, e.result),
        e.error ? h('div', { class: 'reason', 'data-testid': 'session-error' }, e.error) : null,
      ),
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
