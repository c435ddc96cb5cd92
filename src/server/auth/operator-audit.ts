// Every call of an operator route is logged (pino, one JSON line: token name, route, parameters, status,
// time), refused ones included; a successful anti-entropy control also goes into the anti-entropy history, so
// `GET /antientropy` shows who paused repair and when. `GET /auth/whoami` tells a client what it may do.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../core/failures.js';
import type { AntiEntropyControl } from '../antientropy-control.js';
import { callerOf } from './client-auth.js';
import { roleOfRoute } from './route-roles.js';

/** Query values longer than this are cut in the log and the history (a parameter is an id or a number). */
export const auditParamCharsMax = 200;

export interface OperatorAuditOptions {
  readonly log: Logger;
  readonly antiEntropy: () => AntiEntropyControl | undefined;
}

/** A fastify `onSend` hook: runs for answered and refused requests alike, before the answer leaves. */
export function operatorAuditHook(options: OperatorAuditOptions) {
  return async (req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const pattern = req.routeOptions.url;
    if (pattern === undefined || roleOfRoute(req.method, pattern) !== 'operator') return payload;
    const token = callerOf(req);
    const route = `${req.method} ${pattern}`;
    const params = paramsOf(req);
    const status = reply.statusCode;
    const line = { token: token?.name ?? null, kind: token?.access ?? null, route, params, status };
    if (status >= 400) {
      options.log.warn(line, 'operator action refused or failed');
      return payload;
    }
    options.log.info(line, 'operator action');
    if (pattern.startsWith('/antientropy/')) {
      options.antiEntropy()?.recordOperatorAction?.({
        action: pattern.slice('/antientropy/'.length),
        by: token?.name ?? null,
        params,
      });
    }
    return payload;
  };
}

function paramsOf(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (source: unknown): void => {
    if (typeof source !== 'object' || source === null) return;
    for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
      if (typeof v === 'string') out[k.slice(0, 64)] = v.slice(0, auditParamCharsMax);
    }
  };
  add(req.params);
  add(req.query);
  return out;
}

export interface Whoami {
  /** False when the node has no tokens file: everything is open to everyone. */
  readonly tokens: boolean;
  readonly name: string | null;
  readonly kind: 'read-only' | 'read-write' | 'operator' | null;
  /** May call the operator routes (always, on an open node). */
  readonly operator: boolean;
}

/** `GET /auth/whoami`: the kind and name of the caller's token, never the token. */
export function registerWhoami(app: FastifyInstance, tokensOn: boolean): void {
  app.get('/auth/whoami', async (req): Promise<Whoami> => {
    const token = callerOf(req);
    if (!tokensOn || token === undefined)
      return { tokens: tokensOn, name: null, kind: null, operator: !tokensOn };
    return { tokens: true, name: token.name, kind: token.access, operator: token.access === 'operator' };
  });
}
