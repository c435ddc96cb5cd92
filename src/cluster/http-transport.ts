// The transport between nodes over HTTP: one undici Pool per peer (the global fetch is several times
// slower between nodes), binary bodies, bounded responses, errors mapped to ConvergeError codes. Every call
// ends within its timeout, connecting included: a partitioned peer (packets dropped, no refusal) costs a
// caller its timeout and no more, however undici queues the request meanwhile.

import { isIP } from 'node:net';
import { Pool, errors as undiciErrors } from 'undici';
import { ConvergeError, type ErrorCode, errorCodes } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { formatHeader, formatId } from '../core/format.js';
import type { TransportFaults } from './faults.js';
import { ringHeader } from './node-ring.js';
import type { Transport, TransportRequest } from './transport.js';

export interface HttpTransportOptions {
  readonly self: string;
  readonly peers: ReadonlyMap<string, string>;
  readonly faults?: TransportFaults;
  /** Adds authentication headers to each request (security). */
  readonly sign?: (method: string, path: string, body: Uint8Array) => Record<string, string>;
  readonly responseBytesMax?: number;
  readonly connectionsPerPeerMax?: number;
  /** TLS options for https:// peers. */
  readonly tls?: {
    readonly ca?: Buffer | string;
    readonly cert?: Buffer | string;
    readonly key?: Buffer | string;
  };
  /** Opening a connection to a peer gives up after this (the request's own timeout still bounds the call). */
  readonly connectTimeoutMs?: number;
  /** Outgoing connections leave from this address (the listen IP): a partition by address cuts them too. */
  readonly localAddress?: string;
  /** This node's ring fingerprint, sent with every request: a peer with another ring refuses it. */
  readonly ringFingerprint?: () => string;
}

export const responseBytesMaxDefault = 64 * 2 ** 20;
export const connectTimeoutMsDefault = 2000;
/** Bounds undici's own waits for headers and body; each call's (far shorter) timeout applies first. */
export const peerResponseTimeoutMsMax = 120_000;

/**
 * The undici Pool options for one peer: connection count, TLS, connect timeout, the local address to leave
 * from. Kept in one place so that the limits of node-to-node connections are read here and nowhere else.
 */
export function poolOptions(options: HttpTransportOptions): Pool.Options {
  const tls = options.tls;
  return {
    connections: options.connectionsPerPeerMax ?? 16,
    pipelining: 1,
    connect: {
      timeout: options.connectTimeoutMs ?? connectTimeoutMsDefault,
      ...(tls === undefined ? {} : tls),
    },
    headersTimeout: peerResponseTimeoutMsMax,
    bodyTimeout: peerResponseTimeoutMsMax,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  };
}

/** The listen host as a local address to bind outgoing connections to, when it names one specific IP. */
export function outgoingAddress(listenHost: string): string | undefined {
  const host = listenHost.startsWith('[') ? listenHost.slice(1, -1) : listenHost;
  if (isIP(host) === 0 || host === '0.0.0.0' || host === '::') return undefined;
  return host;
}

export class HttpTransport implements Transport {
  private readonly pools = new Map<string, Pool>();
  /** Calls answered by their timeout while undici still held the request (settled later, then dropped). */
  abandoned = 0;

  constructor(private readonly options: HttpTransportOptions) {}

  async call(peer: string, request: TransportRequest): Promise<Uint8Array> {
    const url = this.options.peers.get(peer);
    if (url === undefined) throw new ConvergeError('PEER_UNKNOWN', `no peer named ${peer}`);
    if (this.options.faults?.drops(peer, request.route)) {
      throw new ConvergeError('UNAVAILABLE', `${peer} is unreachable (fault injected)`);
    }
    const path = `/internal/${request.route}`;
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'x-converge-from': this.options.self,
      ...(this.options.ringFingerprint === undefined ? {} : { [ringHeader]: this.options.ringFingerprint() }),
      [formatHeader]: formatId,
      ...(this.options.sign?.('POST', path, request.body) ?? {}),
    };
    // One controller per call, both its listeners removed afterwards (AbortSignal.any would leak them).
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(Object.assign(new Error('timeout'), { name: 'TimeoutError' })),
      request.timeoutMs,
    );
    const onAbort = (): void => controller.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = controller.signal;
    try {
      const pool = this.pool(peer, url);
      const pending = pool.request({ method: 'POST', path, body: request.body, headers, signal });
      const res = await this.untilAborted(pending, signal);
      const body = await readBounded(
        res.body,
        this.options.responseBytesMax ?? responseBytesMaxDefault,
        peer,
      );
      if (res.statusCode >= 200 && res.statusCode < 300) return body;
      throw peerError(peer, res.statusCode, body);
    } catch (err) {
      throw mapError(
        peer,
        signal.aborted && signal.reason?.name === 'TimeoutError' ? signal.reason : err,
        request.timeoutMs,
      );
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(logFailure('connection pool close'))));
  }

  /**
   * Settles with `pending`, or rejects as soon as `signal` aborts: undici keeps a request that waits for a
   * connection queued past its abort (seen: a 2 s timeout answering after 23 s against dropped packets).
   */
  private untilAborted<T extends { body: { destroy(): unknown } }>(
    pending: Promise<T>,
    signal: AbortSignal,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.abandoned += 1;
        // Whatever undici does with it later: a late response is dropped, a late failure has been answered.
        pending.then(
          (res) => res.body.destroy(),
          () => undefined,
        );
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (res) => {
          signal.removeEventListener('abort', onAbort);
          resolve(res);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private pool(peer: string, url: string): Pool {
    let pool = this.pools.get(peer);
    if (pool === undefined) {
      pool = new Pool(url, poolOptions(this.options));
      this.pools.set(peer, pool);
    }
    return pool;
  }
}

async function readBounded(
  body: AsyncIterable<Uint8Array> & { destroy(): unknown },
  max: number,
  peer: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw new ConvergeError('PROTOCOL_TOO_LARGE', `response from ${peer} exceeds responseBytesMax ${max}`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
}

function peerError(peer: string, status: number, body: Uint8Array): ConvergeError {
  try {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as {
      error?: { code?: string; message?: string };
    };
    const code = parsed.error?.code;
    if (code !== undefined && code in errorCodes) {
      return new ConvergeError(code as ErrorCode, `${peer}: ${parsed.error?.message ?? code}`);
    }
  } catch {
    // not JSON: fall through to a generic error
  }
  return new ConvergeError(
    status >= 500 ? 'UNAVAILABLE' : 'PROTOCOL_INVALID',
    `${peer} answered HTTP ${status}`,
  );
}

function mapError(peer: string, err: unknown, timeoutMs: number): ConvergeError {
  if (err instanceof ConvergeError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (
    e.name === 'TimeoutError' ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError
  ) {
    return new ConvergeError('TIMEOUT', `${peer} did not answer within ${timeoutMs} ms`);
  }
  if (e.name === 'AbortError') return new ConvergeError('UNAVAILABLE', `request to ${peer} was cancelled`);
  return new ConvergeError('UNAVAILABLE', `${peer} is unreachable: ${e.code ?? e.message ?? String(err)}`);
}
