// The keyspace view: the token space from 0x00… to 0xff… split into the 2^L prefixes of one digest level. A
// row per node shows how many records each prefix holds; a row per pair marks the prefixes whose hashes
// differ — where a session will find its keys.

import type { DigestLevelView } from '../../src/server/dashboard/types.js';
import { h, replace, s } from '../dom.js';
import { count } from '../format.js';
import type { PairDiff } from '../model.js';
import type { Actions, ViewState } from '../view.js';

const levels = [4, 6, 8, 10] as const;
const stripWidth = 1024;
const rowHeight = 22;
const labelWidth = 110;

function densityRow(d: DigestLevelView, y: number): SVGElement {
  const cells = d.counts.length;
  const w = stripWidth / cells;
  const max = Math.max(1, ...d.counts);
  const rects = d.counts.map((c, i) =>
    c === 0
      ? null
      : s(
          'rect',
          {
            x: labelWidth + i * w,
            y,
            width: w,
            height: rowHeight - 4,
            class: 'density',
            'fill-opacity': (0.15 + 0.85 * (c / max)).toFixed(3),
          },
          s('title', {}, `prefix ${i}: ${c} records on ${d.id}`),
        ),
  );
  return s(
    'g',
    {},
    s('text', { x: 0, y: y + rowHeight / 2 + 1, class: 'row-label' }, `${d.id} records`),
    s('rect', { x: labelWidth, y, width: stripWidth, height: rowHeight - 4, class: 'strip-bg' }),
    ...rects,
  );
}

function pairRow(p: PairDiff, cells: number, y: number): SVGElement {
  const w = stripWidth / cells;
  const minW = Math.max(w, 2); // a single differing prefix at level 10 must still be visible
  const rects = p.differing.map((i) =>
    s(
      'rect',
      { x: labelWidth + i * w, y, width: minW, height: rowHeight - 4, class: 'diff-cell' },
      s(
        'title',
        {},
        `prefix ${i}: about ${p.keysByPrefix.get(i) ?? 1} key(s) differ between ${p.a} and ${p.b}`,
      ),
    ),
  );
  return s(
    'g',
    { 'data-testid': 'keyspace-pair', 'data-pair': `${p.a}-${p.b}`, 'data-differing': p.differing.length },
    s('text', { x: 0, y: y + rowHeight / 2 + 1, class: 'row-label' }, `${p.a} ≠ ${p.b}`),
    s('rect', {
      x: labelWidth,
      y,
      width: stripWidth,
      height: rowHeight - 4,
      class: p.comparable ? 'strip-bg equal' : 'strip-bg',
    }),
    ...rects,
  );
}

function axis(y: number): SVGElement {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const x = labelWidth + f * stripWidth;
    const label = `0x${Math.min(255, Math.round(f * 256))
      .toString(16)
      .padStart(2, '0')}…`;
    return s(
      'text',
      { x, y, class: 'tick', 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' },
      f === 1 ? '0xff…' : label,
    );
  });
  return s('g', {}, ...ticks);
}

function levelPicker(view: ViewState, actions: Actions): HTMLElement {
  const buttons = levels.map((l) =>
    h(
      'button',
      { type: 'button', class: l === view.level ? 'seg active' : 'seg', onclick: () => actions.setLevel(l) },
      `${2 ** l}`,
    ),
  );
  return h(
    'div',
    { class: 'segmented', title: 'Prefixes shown: a level of the digest tree' },
    h('span', { class: 'muted' }, 'prefixes '),
    ...buttons,
  );
}

export function renderKeyspace(body: HTMLElement, view: ViewState, actions: Actions): void {
  const digests = (view.digest?.nodes ?? []).flatMap((n) => (n.digest === null ? [] : [n.digest]));
  const missing = (view.digest?.nodes ?? []).filter((n) => n.digest === null).map((n) => n.id);
  const cells = 2 ** (view.digest?.level ?? view.level);
  const rows: SVGElement[] = [];
  let y = 0;
  for (const d of digests) {
    rows.push(densityRow(d, y));
    y += rowHeight;
  }
  y += 6;
  for (const p of view.pairs) {
    rows.push(pairRow(p, cells, y));
    y += rowHeight;
  }
  rows.push(axis(y + 12));
  const svg = s(
    'svg',
    {
      viewBox: `0 0 ${labelWidth + stripWidth} ${y + 18}`,
      class: 'keyspace',
      role: 'img',
      'aria-label': 'differences by token prefix',
    },
    ...rows,
  );
  const total = view.pairs.reduce((n, p) => n + p.differing.length, 0);
  replace(
    body,
    h(
      'div',
      { class: 'panel-tools' },
      levelPicker(view, actions),
      h(
        'span',
        { class: 'muted' },
        total === 0 ? 'no prefix differs' : `${count(total)} differing prefix(es) across pairs`,
      ),
    ),
    svg,
    missing.length > 0
      ? h('p', { class: 'hint warn-text' }, `No digest from ${missing.join(', ')} (unreachable).`)
      : null,
  );
}
