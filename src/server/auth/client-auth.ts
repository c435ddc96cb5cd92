// Optional client authentication of the public API: bearer tokens from a file, each read-only, read-write or
// operator. Which kind a route needs is declared in route-roles.ts; paths under /internal/ are left to the
// cluster secret. Tokens are kept only as SHA-256 digests and compared in constant time.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConvergeError } from '../../core/errors.js';
import { type RouteRole, roleOfRoute } from './route-roles.js';

/** An operator token reads everything and runs the repair controls, but writes no data. */
export type ClientAccess = 'read-only' | 'read-write' | 'operator';
export const clientAccessKinds: readonly ClientAccess[] = ['read-only', 'read-write', 'operator'];

export interface ClientToken {
  readonly name: string;
  readonly access: ClientAccess;
  /**
   * SHA-256 of the token: equal length for every entry, so the comparison leaks nothing through its length.
   */
  readonly digest: Buffer;
}

export const clientTokenCharsMin = 32;
export const clientTokenCharsMax = 512;
export const clientTokensMax = 10_000;
const tokenPattern = /^[A-Za-z0-9._~+/=-]+$/;

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Parses a tokens file: one `ACCESS TOKEN [NAME]` per line, ACCESS `read-only`, `read-write` or `operator`;
 * blank lines and lines starting with `#` are ignored. Every problem names the file and the line.
 */
export function parseClientTokens(text: string, file: string): ClientToken[] {
  const tokens: ClientToken[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `--client-tokens-file ${file} line ${i + 1}`;
    const [access, token, name, ...rest] = line.split(/\s+/);
    if (!clientAccessKinds.includes(access as ClientAccess))
      throw configError(`${where}: access must be read-only, read-write or operator (got "${access}")`);
    if (token === undefined) throw configError(`${where}: no token after ${access}`);
    if (rest.length > 0)
      throw configError(`${where}: expected ACCESS TOKEN [NAME], found ${rest.length} extra field(s)`);
    if (token.length < clientTokenCharsMin || token.length > clientTokenCharsMax) {
      throw configError(
        `${where}: a token must be ${clientTokenCharsMin} to ${clientTokenCharsMax} characters (got ${token.length}); generate one with: openssl rand -hex 32`,
      );
    }
    if (!tokenPattern.test(token))
      throw configError(`${where}: a token may hold only A-Z a-z 0-9 . _ ~ + / = -`);
    const digest = digestOf(token);
    const hex = digest.toString('hex');
    if (seen.has(hex)) throw configError(`${where}: this token is listed twice`);
    seen.add(hex);
    tokens.push({ name: name ?? `line ${i + 1}`, access: access as ClientAccess, digest });
    if (tokens.length > clientTokensMax)
      throw configError(`${where}: more than clientTokensMax ${clientTokensMax} tokens`);
  }
  if (tokens.length === 0)
    throw configError(`--client-tokens-file ${file}: no tokens (expected lines of ACCESS TOKEN [NAME])`);
  return tokens;
}

export function loadClientTokens(file: string): ClientToken[] {
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0)
      process.stderr.write(`converge: warning: ${file} is readable by group or others\n`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(`--client-tokens-file ${file}: ${(err as Error).message}`);
  }
  return parseClientTokens(text, file);
}

/** The token a request presents, matched against every entry without an early exit. */
export function findToken(tokens: readonly ClientToken[], presented: string): ClientToken | undefined {
  const digest = digestOf(presented);
  let found: ClientToken | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(t.digest, digest) && found === undefined) found = t;
  }
  return found;
}

// Who sent a request, once the hook has matched its token; keyed by the raw request, which inject() also has.
const callers = new WeakMap<object, ClientToken>();

/** The token a request was authenticated with; undefined when tokens are off (or under /internal/). */
export function callerOf(req: FastifyRequest): ClientToken | undefined {
  return callers.get(req.raw);
}

/**
 * A fastify `onRequest` hook enforcing the tokens on every route outside /internal/: the route's declared
 * role (route-roles.ts) decides which kinds of token pass. `tokens` is read on every request, so a reload of
 * the file takes effect at once.
 */
export function clientAuthHook(tokens: () => readonly ClientToken[]) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.url === '/internal' || req.url.startsWith('/internal/')) return;
    // A path no route matches needs only a known token, and then gets its 404.
    const pattern = req.routeOptions.url;
    const role = pattern === undefined ? 'read' : roleOfRoute(req.method, pattern);
    if (role === 'public') return;
    const refuse = (err: ConvergeError): void => {
      if (err.httpStatus === 401) void reply.header('www-authenticate', 'Bearer realm="converge"');
      void reply.code(err.httpStatus).send(err.toJSON());
    };
    const header = req.headers.authorization;
    if (header === undefined || header === '') {
      return refuse(
        new ConvergeError(
          'TOKEN_REQUIRED',
          'this node requires a client token: send Authorization: Bearer TOKEN',
        ),
      );
    }
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (m === null)
      return refuse(new ConvergeError('TOKEN_INVALID', 'the Authorization header must be "Bearer TOKEN"'));
    const token = findToken(tokens(), m[1]!);
    if (token === undefined)
      return refuse(
        new ConvergeError('TOKEN_INVALID', "the bearer token is not one of this node's client tokens"),
      );
    callers.set(req.raw, token);
    const refusal = refusalFor(token, role, req.method, req.url.split('?')[0]!.slice(0, 200));
    if (refusal !== undefined) return refuse(refusal);
  };
}

/** Why a token may not call a route of this role, or undefined when it may. */
export function refusalFor(
  token: ClientToken,
  role: RouteRole,
  method: string,
  path: string,
): ConvergeError | undefined {
  if (role === 'public' || role === 'read' || role === 'cluster') return undefined;
  if (role === 'write') {
    if (token.access === 'read-write') return undefined;
    const what = token.access === 'operator' ? 'an operator token, read-only for data' : 'read-only';
    return new ConvergeError(
      'TOKEN_READ_ONLY',
      `token ${token.name} is ${what}; ${method} ${path} needs a read-write token`,
    );
  }
  if (token.access === 'operator') return undefined;
  return new ConvergeError(
    'TOKEN_NOT_OPERATOR',
    `token ${token.name} is ${token.access}; ${method} ${path} needs an operator token`,
  );
}

function configError(message: string): ConvergeError {
  return new ConvergeError('CONFIG_INVALID', message);
}
