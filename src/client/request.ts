// One HTTP exchange with a node, with the client's timeout and its retry rule: a request is sent again only
// when doing so cannot apply it twice (a read, an idempotent control call, or a refusal that says nothing was
// applied: no connection made, 503 OVERLOADED). Every failure becomes a ConvergeClientError.

import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../core/errors.js';
import { ConvergeClientError, notANodeError, timeoutError, transportError } from './errors.js';

export type Method = 'GET' | 'PUT' | 'DELETE' | 'POST';

export interface Exchange {
  readonly method: Method;
  /** Path and query, starting with `/`. */
  readonly path: string;
  readonly body?: Uint8Array | undefined;
  /** True when sending the request twice does what sending it once does (GET, pause, resume). */
  readonly idempotent: boolean;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Uint8Array;
}

export interface Connection {
  readonly origin: string;
  readonly dispatcher: Dispatcher;
  readonly authorization: string | undefined;
  /** Attempts after the first, at most. */
  readonly retries: number;
  readonly retryDelayMs: number;
}

/** Codes a node sends when it refused a request before applying any of it, so a write may be retried. */
const refusedBeforeApplying = new Set(['OVERLOADED']);
/** Codes that say a read may succeed if asked again (a replica came back, a peer answered late). */
const transientForReads = new Set(['UNAVAILABLE', 'TIMEOUT', 'OVERLOADED', 'NODE_UNREACHABLE']);
/** Connection failures worth another attempt (a node restarting, a dropped keep-alive socket). */
const transientCauses = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'UND_ERR_SOCKET',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
/** Retry-After beyond this is not waited for: the error goes to the caller. */
const retryAfterSecondsMax = 30;

export async function exchange(conn: Connection, ex: Exchange): Promise<Answer> {
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await attemptOnce(conn, ex);
      if (answer.status < 400) return answer;
      throw errorFromAnswer(conn.origin, answer);
    } catch (err) {
      if (!(err instanceof ConvergeClientError) || attempt >= conn.retries || !mayRetry(err, ex)) throw err;
      ex.signal?.throwIfAborted();
      const backoffMs = conn.retryDelayMs * 2 ** attempt;
      await sleep(err.retryAfterSeconds === undefined ? backoffMs : err.retryAfterSeconds * 1000, ex.signal);
    }
  }
}

function mayRetry(err: ConvergeClientError, ex: Exchange): boolean {
  if (err.retryAfterSeconds !== undefined && err.retryAfterSeconds > retryAfterSecondsMax) return false;
  // A certificate mismatch or an unknown host does not heal by asking again.
  if (err.code === 'NODE_UNREACHABLE' && !transientCauses.has(String(err.details?.cause))) return false;
  // The client's own timeout is the caller's deadline: it is not spent again.
  if (err.code === 'TIMEOUT' && err.status === undefined) return false;
  if (ex.idempotent) return transientForReads.has(err.code);
  return err.applied === 'no' && (err.code === 'NODE_UNREACHABLE' || refusedBeforeApplying.has(err.code));
}

async function attemptOnce(conn: Connection, ex: Exchange): Promise<Answer> {
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, ex.timeoutMs);
  const onCallerAbort = (): void => abort.abort(ex.signal?.reason);
  ex.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    ex.signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    if (ex.body !== undefined) headers['content-type'] = 'application/octet-stream';
    if (conn.authorization !== undefined) headers.authorization = conn.authorization;
    const res = await conn.dispatcher.request({
      origin: conn.origin,
      path: ex.path,
      method: ex.method,
      headers,
      body:
        ex.body === undefined ? null : Buffer.from(ex.body.buffer, ex.body.byteOffset, ex.body.byteLength),
      signal: abort.signal,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk as Buffer);
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
  } catch (err) {
    if (timedOut) throw timeoutError(conn.origin, ex.timeoutMs);
    if (ex.signal?.aborted) throw err;
    throw transportError(conn.origin, err);
  } finally {
    clearTimeout(timer);
    ex.signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** A node's JSON error, or NOT_A_NODE when the answer is not one. */
export function errorFromAnswer(origin: string, answer: Answer): ConvergeClientError {
  const contentType = headerOf(answer, 'content-type') ?? '';
  const parsed = contentType.includes('application/json') ? parseJson(answer.body) : undefined;
  const e = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
    ?.error;
  if (e === undefined || typeof e.code !== 'string' || typeof e.message !== 'string') {
    return notANode(origin, answer);
  }
  const retryAfter = Number(headerOf(answer, 'retry-after'));
  const code = e.code;
  const applied = answer.status < 500 || refusedBeforeApplying.has(code) ? 'no' : 'unknown';
  // A newer node may send a code this client does not list: it is passed on as sent.
  return new ConvergeClientError(code as ErrorCode, e.message, {
    status: answer.status,
    url: origin,
    applied,
    details:
      typeof e.details === 'object' && e.details !== null
        ? (e.details as Record<string, unknown>)
        : undefined,
    retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
  });
}

export function notANode(origin: string, answer: Answer): ConvergeClientError {
  return notANodeError(origin, answer.status, headerOf(answer, 'content-type') ?? '', answer.body);
}

/** Parses a successful JSON answer; anything else is not a converge node's answer. */
export function jsonOf<T>(origin: string, answer: Answer): T {
  const contentType = headerOf(answer, 'content-type') ?? '';
  const parsed = contentType.includes('application/json') ? parseJson(answer.body) : undefined;
  if (parsed === undefined) throw notANode(origin, answer);
  return parsed as T;
}

export function headerOf(answer: Answer, name: string): string | undefined {
  const v = answer.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
