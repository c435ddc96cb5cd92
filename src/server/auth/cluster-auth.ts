// Authentication of node-to-node traffic: every request under /internal/ carries an HMAC-SHA256 signature,
// made with the cluster's shared secret, over the method, path, sender, a timestamp, a random nonce and a
// hash of the body. A receiver refuses (401) a request without credentials, with a bad signature, outside the
// clock window, or whose nonce it has already seen — before any handler reads the body.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConvergeError } from '../../core/errors.js';

export const clusterSecretBytesMin = 32;
export const authClockSkewMsMaxDefault = 30_000;
export const authNonceCacheMaxDefault = 100_000;

const headers = {
  node: 'x-converge-from',
  ts: 'x-converge-ts',
  nonce: 'x-converge-nonce',
  body: 'x-converge-body-sha256',
  sig: 'x-converge-signature',
};

/** The secret from CONVERGE_CLUSTER_SECRET or a file (never a flag: flags show in `ps`). */
export function loadClusterSecret(env: NodeJS.ProcessEnv, file: string | undefined): Buffer | undefined {
  let secret: Buffer | undefined;
  if (file !== undefined) {
    try {
      if ((statSync(file).mode & 0o077) !== 0)
        process.stderr.write(`converge: warning: ${file} is readable by group or others\n`);
      secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
    } catch (err) {
      throw new ConvergeError('CONFIG_INVALID', `--cluster-secret-file ${file}: ${(err as Error).message}`);
    }
  } else if (env.CONVERGE_CLUSTER_SECRET !== undefined && env.CONVERGE_CLUSTER_SECRET !== '') {
    secret = Buffer.from(env.CONVERGE_CLUSTER_SECRET, 'utf8');
  }
  if (secret !== undefined && secret.length < clusterSecretBytesMin) {
    throw new ConvergeError(
      'CONFIG_INVALID',
      `the cluster secret must be at least ${clusterSecretBytesMin} bytes (got ${secret.length})`,
    );
  }
  return secret;
}

function mac(
  secret: Buffer,
  method: string,
  path: string,
  node: string,
  ts: string,
  nonce: string,
  bodyHash: string,
): string {
  return createHmac('sha256', secret)
    .update(`${method}\n${path}\n${node}\n${ts}\n${nonce}\n${bodyHash}`)
    .digest('hex');
}

const sha256 = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/** Headers for one outgoing request; the HTTP transport calls it per request. */
export function clusterSigner(node: string, secret: Buffer, now: () => number = Date.now) {
  return (method: string, path: string, body: Uint8Array): Record<string, string> => {
    const ts = String(now());
    const nonce = randomBytes(16).toString('hex');
    const bodyHash = sha256(body);
    return {
      [headers.node]: node,
      [headers.ts]: ts,
      [headers.nonce]: nonce,
      [headers.body]: bodyHash,
      [headers.sig]: mac(secret, method, path, node, ts, nonce, bodyHash),
    };
  };
}

export interface VerifierOptions {
  readonly secret: Buffer;
  readonly clockSkewMsMax?: number;
  readonly nonceCacheMax?: number;
  readonly now?: () => number;
}

/**
 * Fastify hooks: `onRequest` checks the signed headers, `preHandler` that the body matches its signed hash.
 */
export function clusterVerifier(options: VerifierOptions) {
  const skew = options.clockSkewMsMax ?? authClockSkewMsMaxDefault;
  const cacheMax = options.nonceCacheMax ?? authNonceCacheMaxDefault;
  const now = options.now ?? Date.now;
  // Nonces seen within the clock window, oldest first; older ones are refused by their timestamp anyway.
  const seen = new Map<string, number>();
  const refuse = (reply: FastifyReply, why: string): FastifyReply =>
    reply.code(401).send(new ConvergeError('UNAUTHORIZED', `cluster authentication failed: ${why}`).toJSON());

  const onRequest = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!req.url.startsWith('/internal/') && req.url !== '/internal') return;
    const h = (name: string): string | undefined => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const [node, ts, nonce, bodyHash, sig] = [
      h(headers.node),
      h(headers.ts),
      h(headers.nonce),
      h(headers.body),
      h(headers.sig),
    ];
    if (!node || !ts || !nonce || !bodyHash || !sig) return void refuse(reply, 'missing credentials');
    const t = Number(ts);
    if (!Number.isFinite(t) || Math.abs(now() - t) > skew)
      return void refuse(reply, 'timestamp outside the allowed clock skew');
    const expected = Buffer.from(mac(options.secret, req.method, req.url, node, ts, nonce, bodyHash), 'hex');
    const given = Buffer.from(sig, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return void refuse(reply, 'bad signature');
    if (seen.has(nonce)) return void refuse(reply, 'replayed request');
    seen.set(nonce, t);
    for (const [n, at] of seen) {
      if (seen.size <= cacheMax && at >= now() - skew) break;
      seen.delete(n);
    }
  };

  const preHandler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!req.url.startsWith('/internal/')) return;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (sha256(body) !== req.headers[headers.body])
      return void refuse(reply, 'body does not match its signed hash');
  };

  return { onRequest, preHandler };
}
