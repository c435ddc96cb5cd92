// Client tokens in the dashboard: asks for a token once when the node wants one, keeps it in sessionStorage
// only (gone when the tab closes, never in localStorage or a cookie), adds it to every call, and hides the
// operator controls unless the token is an operator's. Also the operator strip: who paused or throttled
// repair on which node, and the warnings for a pause or throttle left in force too long.

import './styles/auth.css';
import type { Whoami } from '../src/server/auth/operator-audit.js';
import type { ClusterView } from '../src/server/dashboard/types.js';
import { h, replace } from './dom.js';
import { clock } from './format.js';

const storageKey = 'converge.token';
let who: Whoami | null = null;
let loginShown: Promise<void> | null = null;
const badgeEl = h('span', { class: 'whoami', 'data-testid': 'whoami' });
const stripEl = h('section', { class: 'operator-strip', 'data-testid': 'operator-strip', hidden: true });

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(storageKey);
  } catch {
    return null; // storage switched off: the user is asked again on every load
  }
}

/** The header every call carries: the session's token, when there is one. */
export function authHeaders(): Record<string, string> {
  const token = storedToken();
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

/** Called by the API layer on a 401: the stored token no longer works (rotated, or removed from the file). */
export function onUnauthorized(): void {
  sessionStorage.removeItem(storageKey);
  who = null;
  void signIn('The node no longer accepts this token: enter another.');
}

/** A node that predates tokens has no /auth/whoami: it is open, like a node without a tokens file. */
const openNode: Whoami = { tokens: false, name: null, kind: null, operator: true };

async function askWhoami(): Promise<{ status: number; who: Whoami | null }> {
  const res = await fetch('/auth/whoami', { headers: authHeaders(), cache: 'no-store' });
  if (res.status === 404) return { status: res.status, who: openNode };
  if (!res.ok) return { status: res.status, who: null };
  return { status: res.status, who: (await res.json()) as Whoami };
}

let signingIn: Promise<Whoami> | null = null;

/**
 * Resolves once the node accepts the session's token (at once on a node without tokens). Calls while one is
 * under way share it: every failed poll reports its 401, and the form must appear once.
 */
export function signIn(reason?: string): Promise<Whoami> {
  signingIn ??= signInLoop(reason).finally(() => {
    signingIn = null;
  });
  return signingIn;
}

async function signInLoop(reason: string | undefined): Promise<Whoami> {
  for (let message = reason ?? null; ; ) {
    const answer = await askWhoami();
    if (answer.who !== null) {
      who = answer.who;
      applyRole();
      return who;
    }
    if (answer.status !== 401) throw new Error(`the node answered ${answer.status} to /auth/whoami`);
    if (storedToken() !== null) message = 'The node did not accept this token.';
    sessionStorage.removeItem(storageKey);
    await askForToken(message ?? 'This node requires a client token.');
    message = null;
  }
}

/** Shows the login form until a token is entered; one form at a time. */
function askForToken(message: string): Promise<void> {
  if (loginShown !== null) return loginShown;
  loginShown = new Promise<void>((resolve) => {
    const input = h('input', {
      type: 'password',
      autocomplete: 'off',
      'aria-label': 'client token',
      'data-testid': 'login-token',
      placeholder: 'client token',
    });
    const form = h(
      'form',
      { class: 'login-box' },
      h('h2', {}, 'Sign in'),
      h('p', { 'data-testid': 'login-message' }, message),
      input,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Use token'),
      h('p', { class: 'muted small' }, 'Kept in this browser tab only, until it closes.'),
    );
    const overlay = h('div', { class: 'login', 'data-testid': 'login' }, form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (token === '') return;
      sessionStorage.setItem(storageKey, token);
      overlay.remove();
      loginShown = null;
      resolve();
    });
    document.body.append(overlay);
    input.focus();
  });
  return loginShown;
}

function signOut(): void {
  sessionStorage.removeItem(storageKey);
  who = null;
  applyRole();
  void signIn('Signed out.');
}

/** Operator controls are shown on an open node and to an operator token only (styles/auth.css hides them). */
function applyRole(): void {
  document.body.dataset.role = who?.operator === true ? 'operator' : 'viewer';
  if (who === null || !who.tokens) {
    replace(badgeEl);
    return;
  }
  replace(
    badgeEl,
    `${who.name ?? '?'} · ${who.kind ?? '?'}`,
    h('button', { type: 'button', class: 'link', 'data-testid': 'sign-out', onclick: signOut }, 'sign out'),
  );
}

/** The badge for the top bar and the operator strip for above the panels; main.ts places them once. */
export function authElements(): { badge: HTMLElement; strip: HTMLElement } {
  return { badge: badgeEl, strip: stripEl };
}

/** Who paused or throttled repair on each node, and the warnings for what has been in force too long. */
export function renderOperatorStrip(cluster: ClusterView): void {
  const lines: HTMLElement[] = [];
  for (const node of cluster.nodes) {
    const op = node.antiEntropy?.operator;
    if (op === undefined) continue;
    for (const warning of op.warnings) {
      lines.push(
        h('div', { class: 'operator-warning', 'data-testid': 'operator-warning' }, `${node.id}: ${warning}`),
      );
    }
    if (op.warnings.length > 0) continue;
    const held: Array<[string, { by: string | null; atMs: number | null } | null]> = [
      ['paused', op.paused],
      ['throttled', op.throttled],
    ];
    for (const [what, state] of held) {
      if (state === null) continue;
      const by = state.by === null ? '' : ` by ${state.by}`;
      const at = state.atMs === null ? '' : ` at ${clock(state.atMs)}`;
      lines.push(
        h(
          'div',
          { class: 'operator-note', 'data-testid': 'operator-note' },
          `${node.id}: anti-entropy ${what}${by}${at}`,
        ),
      );
    }
  }
  stripEl.hidden = lines.length === 0;
  replace(stripEl, ...lines);
}
