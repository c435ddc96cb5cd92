// The one table of which kind of client token every HTTP route needs (docs/security.md#roles). A route
// missing from it is treated as an operator route, so forgetting a row fails closed;
// test/security-roles.test.ts walks every route a node registers and fails when one has no row here.

import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * public: no token at all (only the dashboard's page and code, which hold no data: the page must load to ask
 * for a token). read: any token. write: a read-write token (changes data). operator: an operator token
 * (changes how the node repairs or behaves: anti-entropy controls, membership, the demo's faults).
 * cluster: no client token; the cluster secret guards it (everything under /internal/).
 */
export type RouteRole = 'public' | 'read' | 'write' | 'operator' | 'cluster';

/** `METHOD PATTERN` as fastify registers it; `*` as the method covers every method of that pattern. */
export const routeRoles: Readonly<Record<string, RouteRole>> = {
  'GET /kv/*': 'read',
  'PUT /kv/*': 'write',
  // A batch of writes and deletes (docs/http-api.md, "Batches").
  'POST /kv': 'write',
  'DELETE /kv/*': 'write',
  'GET /status': 'read',
  'GET /metrics': 'read',
  'GET /auth/whoami': 'read',
  // Records stamped ahead of this node's clock: listing them is a read; dropping this node's copies of them
  // is the operator's repair of a clock that ran ahead (docs/operations.md).
  'GET /clock/ahead': 'read',
  'POST /clock/ahead/drop': 'operator',
  'GET /antientropy': 'read',
  'GET /antientropy/preview': 'read',
  'POST /antientropy/run': 'operator',
  'POST /antientropy/pause': 'operator',
  'POST /antientropy/resume': 'operator',
  'POST /antientropy/throttle': 'operator',
  'POST /antientropy/cancel': 'operator',
  'POST /internal/*': 'cluster',
  // Membership (docs/operations.md, "Growing, shrinking, replacing"): the members are a read; a change moves
  // data between nodes: operator work.
  'GET /cluster/members': 'read',
  'POST /cluster/decommission': 'operator',
  'POST /cluster/replace': 'operator',
  'POST /cluster/cancel': 'operator',
  // The dashboard: its page and code are public (no data in them), its JSON needs a token, and its actions on
  // any node are the anti-entropy controls.
  'GET /': 'public',
  'GET /assets/app.js': 'public',
  'GET /assets/app.css': 'public',
  'GET /cluster': 'read',
  'GET /digest/level': 'read',
  'GET /cluster/digest': 'read',
  'POST /cluster/nodes/:id/antientropy/:action': 'operator',
  'POST /cluster/repair': 'operator',
  'GET /cluster/repair': 'read',
  // The demo's controls cut the network and stop nodes: operator work. Outside a demo, `/demo/*` is a 404.
  'POST /demo/isolate': 'operator',
  'POST /demo/heal': 'operator',
  'POST /demo/stop': 'operator',
  'POST /demo/start': 'operator',
  'POST /demo/write-burst': 'operator',
  'POST /demo/mechanism': 'operator',
  '* /demo/*': 'read',
};

/** The declared role, or undefined when the table has no row for the route. */
export function declaredRole(method: string, pattern: string): RouteRole | undefined {
  // fastify answers HEAD from the GET route; both need the same token.
  const m = method === 'HEAD' ? 'GET' : method;
  return routeRoles[`${m} ${pattern}`] ?? routeRoles[`* ${pattern}`];
}

/** The role a request on this route needs: the declared one, else operator (fail closed). */
export function roleOfRoute(method: string, pattern: string): RouteRole {
  return declaredRole(method, pattern) ?? 'operator';
}

export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Records every route registered on `app` from now on (child plugins included), for the roles test. */
export function trackRoutes(app: FastifyInstance): void {
  const list: RegisteredRoute[] = [];
  registered.set(app, list);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) list.push({ method, url: route.url });
  });
}

export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}
