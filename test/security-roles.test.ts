// Every route a node registers has a declared role (src/server/auth/route-roles.ts), and every kind of
// client token gets exactly what that role allows on it: driven by the list of routes the server itself
// registered, so a new route without a row in the table fails here.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import {
  declaredRole,
  type RegisteredRoute,
  type RouteRole,
  registeredRoutes,
  routeRoles,
} from '../src/server/auth/route-roles.js';
import type { RunningNode } from '../src/server/server.js';
import {
  bearer,
  errorOf,
  standInDemo,
  startSolo,
  type TokenSet,
  writeTokens,
} from './security-operator-helpers.js';

let tokens: TokenSet;
let demoNode: RunningNode;
let plainNode: RunningNode;
const demo = standInDemo();

before(async () => {
  tokens = writeTokens();
  const settings = { 'client-tokens-file': tokens.file };
  const clusterSecret = randomBytes(32);
  demoNode = await startSolo({ dataDir: tokens.dir, id: 'n1', settings, demo, clusterSecret });
  plainNode = await startSolo({ dataDir: tokens.dir, id: 'n2', settings, clusterSecret });
});
after(async () => {
  await demoNode?.stop();
  await plainNode?.stop();
  rmSync(tokens.dir, { recursive: true, force: true });
});

const authCodes = new Set(['TOKEN_REQUIRED', 'TOKEN_INVALID', 'TOKEN_READ_ONLY', 'TOKEN_NOT_OPERATOR']);
type Kind = 'none' | 'read-only' | 'read-write' | 'operator';

/** What a caller of each kind must get on a route of each role: null means "let through". */
const expected: Record<RouteRole, Record<Kind, string | null>> = {
  public: { none: null, 'read-only': null, 'read-write': null, operator: null },
  read: { none: 'TOKEN_REQUIRED', 'read-only': null, 'read-write': null, operator: null },
  write: {
    none: 'TOKEN_REQUIRED',
    'read-only': 'TOKEN_READ_ONLY',
    'read-write': null,
    operator: 'TOKEN_READ_ONLY',
  },
  operator: {
    none: 'TOKEN_REQUIRED',
    'read-only': 'TOKEN_NOT_OPERATOR',
    'read-write': 'TOKEN_NOT_OPERATOR',
    operator: null,
  },
  // Under /internal/ a client token opens nothing: the cluster secret decides (unsigned here, so 401).
  cluster: {
    none: 'UNAUTHORIZED',
    'read-only': 'UNAUTHORIZED',
    'read-write': 'UNAUTHORIZED',
    operator: 'UNAUTHORIZED',
  },
};

function allRoutes(): Array<RegisteredRoute & { node: RunningNode }> {
  return [
    ...registeredRoutes(demoNode.app).map((r) => ({ ...r, node: demoNode })),
    ...registeredRoutes(plainNode.app).map((r) => ({ ...r, node: plainNode })),
  ];
}

/** A concrete path for a route pattern: wildcards and parameters filled with harmless values. */
function pathOf(route: RegisteredRoute, node: RunningNode): string {
  return route.url
    .replace('*', 'roles-probe')
    .replace(':id', node.ctx.config.id)
    .replace(':action', 'resume');
}

test('every registered route declares a role, and every row of the table is a registered route', () => {
  const routes = allRoutes();
  assert.ok(routes.length >= 20, `the servers registered ${routes.length} routes`);
  const missing = routes.filter((r) => declaredRole(r.method, r.url) === undefined);
  assert.deepEqual(
    missing.map((r) => `${r.method} ${r.url}`),
    [],
    'routes without a role: add a row to routeRoles in src/server/auth/route-roles.ts',
  );
  const seen = new Set(routes.flatMap((r) => [`${r.method} ${r.url}`, `* ${r.url}`]));
  const stale = Object.keys(routeRoles).filter((k) => !seen.has(k));
  assert.deepEqual(stale, [], 'rows of routeRoles that name no route');
});

test('each kind of token on each route gets what its role allows; refusals name the token', async () => {
  const kinds: Array<[Kind, string | undefined, string | null]> = [
    ['none', undefined, null],
    ['read-only', tokens.reader, 'grafana'],
    ['read-write', tokens.writer, 'app'],
    ['operator', tokens.operator, 'ops-alice'],
  ];
  let checked = 0;
  for (const route of allRoutes()) {
    // HEAD mirrors GET (no body to read a code from); exotic methods of `all` are covered by the table check.
    if (!['GET', 'POST', 'PUT', 'DELETE'].includes(route.method)) continue;
    const role = declaredRole(route.method, route.url)!;
    const path = pathOf(route, route.node);
    for (const [kind, token, name] of kinds) {
      const what = `${kind} ${route.method} ${path} (role ${role})`;
      const res = await request(`${route.node.url}${path}`, {
        method: route.method as 'GET',
        headers: token === undefined ? {} : bearer(token),
        ...(route.method === 'PUT' ? { body: 'v' } : {}),
      });
      const text = await res.body.text();
      const code = res.statusCode >= 400 ? errorOf(JSON.parse(text)).code : undefined;
      const want = expected[role][kind];
      if (want === null) {
        assert.ok(
          !authCodes.has(code ?? '') && res.statusCode !== 401 && res.statusCode !== 403,
          `${what}: ${text}`,
        );
      } else {
        assert.equal(code, want, `${what}: ${res.statusCode} ${text}`);
        assert.equal(
          res.statusCode,
          want === 'TOKEN_READ_ONLY' || want === 'TOKEN_NOT_OPERATOR' ? 403 : 401,
          what,
        );
        if (name !== null && want.startsWith('TOKEN_')) {
          const message = errorOf(JSON.parse(text)).message ?? '';
          assert.match(message, new RegExp(`token ${name} is `), what);
          assert.ok(!message.includes(token!), `${what}: the message must never carry the token`);
        }
      }
      checked++;
    }
  }
  assert.ok(checked >= 80, `checked ${checked} combinations`);
  assert.ok(demo.calls.includes('heal'), 'the operator token reached the demo controls');
});

test('a read-write token is told which token kind an operator route needs', async () => {
  const res = await request(`${demoNode.url}/antientropy/pause`, {
    method: 'POST',
    headers: bearer(tokens.writer),
  });
  const body = (await res.body.json()) as unknown;
  assert.equal(res.statusCode, 403);
  assert.deepEqual(errorOf(body), {
    code: 'TOKEN_NOT_OPERATOR',
    message: 'token app is read-write; POST /antientropy/pause needs an operator token',
  });
  assert.equal(demoNode.ctx.antiEntropy?.status().paused, false, 'nothing was paused');
});

test('GET /auth/whoami names the kind and name of the caller token', async () => {
  for (const [token, kind, name] of [
    [tokens.reader, 'read-only', 'grafana'],
    [tokens.writer, 'read-write', 'app'],
    [tokens.operator, 'operator', 'ops-alice'],
  ] as const) {
    const res = await request(`${plainNode.url}/auth/whoami`, { headers: bearer(token) });
    assert.deepEqual(await res.body.json(), { tokens: true, name, kind, operator: kind === 'operator' });
  }
});
