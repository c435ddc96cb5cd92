// The client's one error type: what a node answered (its code, message and details, with the HTTP status),
// or why no usable answer came (NODE_UNREACHABLE, TIMEOUT, NOT_A_NODE). `applied` says whether the request
// may have changed something, which is what decides whether a write may be sent again.

import { ConvergeError, type ErrorCode } from '../core/errors.js';

/**
 * `no`: the node refused before applying anything (a 4xx, OVERLOADED, a connection never made).
 * `unknown`: the request may have been applied, in part or whole (a timeout, a dropped connection, a 503
 * UNAVAILABLE whose acknowledged replicas keep the write).
 */
export type Applied = 'no' | 'unknown';

export class ConvergeClientError extends ConvergeError {
  /** The HTTP status the node answered with; undefined when no answer came. */
  readonly status: number | undefined;
  /** The node's URL (origin) the request went to. */
  readonly url: string;
  readonly applied: Applied;
  /** Seconds the node asked to wait before trying again (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    init: {
      status?: number | undefined;
      url: string;
      applied: Applied;
      details?: Record<string, unknown> | undefined;
      retryAfterSeconds?: number | undefined;
    },
  ) {
    super(code, message, init.details);
    this.name = 'ConvergeClientError';
    this.status = init.status;
    this.url = init.url;
    this.applied = init.applied;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

const certificateErrors = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** Connection failures where the request certainly never reached the node's routes. */
const neverSentCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCodeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : e.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Why a request got no answer, with what to do about it. */
export function transportError(origin: string, err: unknown): ConvergeClientError {
  const code = errorCodeOf(err);
  const neverSent = code !== undefined && (neverSentCodes.has(code) || certificateErrors.has(code));
  const init = {
    url: origin,
    applied: neverSent ? ('no' as const) : ('unknown' as const),
    ...(code === undefined ? {} : { details: { cause: code } }),
  };
  const message = ((): string => {
    if (code !== undefined && certificateErrors.has(code)) {
      return `cannot verify the TLS certificate of ${origin} (${code}): pass --ca FILE or set CONVERGE_TLS_CA to the cluster's CA certificate`;
    }
    if (code === 'ECONNREFUSED')
      return `cannot reach ${origin}: connection refused (ECONNREFUSED): is a converge node running at ${origin}?`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return `cannot reach ${origin}: the host name does not resolve (${code})`;
    if (origin.startsWith('http:') && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
      return `cannot reach ${origin}: the connection was closed (${code}); if the node serves TLS, use an https:// URL`;
    }
    if (origin.startsWith('https:') && (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER')) {
      return `cannot reach ${origin}: TLS handshake failed (${code}); if the node serves plain HTTP, use an http:// URL`;
    }
    return `cannot reach ${origin}: ${code ?? (err as Error).message}`;
  })();
  return new ConvergeClientError('NODE_UNREACHABLE', message, init);
}

export function timeoutError(origin: string, timeoutMs: number): ConvergeClientError {
  return new ConvergeClientError(
    'TIMEOUT',
    `${origin} did not answer within ${timeoutMs} ms (the client's timeoutMs; --timeout on the command line): the node may be overloaded or stuck`,
    { url: origin, applied: 'unknown' },
  );
}

/** An answer that is not a converge node's: a web server, a proxy's error page, a different service. */
export function notANodeError(
  origin: string,
  status: number,
  contentType: string,
  body: Uint8Array,
): ConvergeClientError {
  const sample = Buffer.from(body.subarray(0, 80)).toString('utf8').replace(/\s+/g, ' ').trim();
  return new ConvergeClientError(
    'NOT_A_NODE',
    `${origin} answered HTTP ${status} (${contentType || 'no content type'}) that is not a converge node's answer: is it the URL of a converge node? (it began "${sample}")`,
    { url: origin, status, applied: 'unknown' },
  );
}
