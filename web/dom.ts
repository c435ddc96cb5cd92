// A tiny element builder: the dashboard renders by building fresh DOM for each panel on every poll. Text
// goes through textContent only, so node ids or keys can never inject markup.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

const svgNs = 'http://www.w3.org/2000/svg';

function applyAttrs(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(el: Element, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
}

/** An HTML element: h('div', { class: 'card' }, 'text', h('span', {}, 'x')). Event handlers as `onclick`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, same calling convention as h(). */
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(svgNs, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el as SVGElement;
}

/** Replaces the children of `el`, keeping `el` itself (its id, its scroll position). */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A link to a glossary term, shown beside the panel that displays it. */
export function termLink(term: string, label: string = term): HTMLAnchorElement {
  return h('a', { class: 'term', href: `#/glossary/${slug(term)}`, title: `What is “${term}”?` }, label);
}

export function slug(term: string): string {
  return term
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** A label–value line of a card. */
export function kv(label: string, value: Node | string, cls = ''): HTMLDivElement {
  return h(
    'div',
    { class: `kv ${cls}`.trim() },
    h('span', { class: 'k' }, label),
    h('span', { class: 'v' }, value),
  );
}
