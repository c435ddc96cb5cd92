// Optional client authentication of the public API: bearer tokens from a file, each read-only or read-write.
// Reads (GET, HEAD, OPTIONS) need any known token, everything else a read-write one. Paths under /internal/
// are left to the cluster secret. Tokens are kept only as SHA-256 digests and compared in constant time.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConvergeError } from '../../core/errors.js';

export type ClientAccess = 'read-only' | 'read-write';

export interface ClientToken {
  readonly name: string;
  readonly access: ClientAccess;
  /** SHA-256 of the token: equal length for every entry, so the comparison leaks nothing through its length. */
  readonly digest: Buffer;
}

export const clientTokenCharsMin = 32;
export const clientTokenCharsMax = 512;
export const clientTokensMax = 10_000;
const tokenPattern = /^[A-Za-z0-9._~+/=-]+$/;
const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Parses a tokens file: one `ACCESS TOKEN [NAME]` per line, ACCESS `read-only` or `read-write`; blank lines and
 * lines starting with `#` are ignored. Every problem names the file and the line.
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
    if (access !== 'read-only' && access !== 'read-write')
      throw configError(`${where}: access must be read-only or read-write (got "${access}")`);
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
    tokens.push({ name: name ?? `line ${i + 1}`, access, digest });
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

/** A fastify `onRequest` hook enforcing the tokens on every route outside /internal/. */
export function clientAuthHook(tokens: readonly ClientToken[]) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.url === '/internal' || req.url.startsWith('/internal/')) return;
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
    const token = findToken(tokens, m[1]!);
    if (token === undefined)
      return refuse(
        new ConvergeError('TOKEN_INVALID', "the bearer token is not one of this node's client tokens"),
      );
    if (token.access === 'read-only' && !readMethods.has(req.method)) {
      const path = req.url.split('?')[0]!;
      return refuse(
        new ConvergeError(
          'TOKEN_READ_ONLY',
          `token ${token.name} is read-only; ${req.method} ${path.slice(0, 200)} needs a read-write token`,
        ),
      );
    }
  };
}

function configError(message: string): ConvergeError {
  return new ConvergeError('CONFIG_INVALID', message);
}
