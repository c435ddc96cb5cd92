// The transport between nodes over HTTP: one undici Pool per peer (the global fetch is several times
// slower between nodes), binary bodies, bounded responses, errors mapped to ConvergeError codes.

import { Pool, errors as undiciErrors } from 'undici';
import { logFailure } from '../core/failures.js';
import { ConvergeError, type ErrorCode, errorCodes } from '../core/errors.js';
import { formatHeader, formatId } from '../core/format.js';
import type { TransportFaults } from './faults.js';
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
  readonly tls?: { readonly ca?: Buffer | string; readonly cert?: Buffer | string; readonly key?: Buffer | string };
}

export const responseBytesMaxDefault = 64 * 2 ** 20;

export class HttpTransport implements Transport {
  private readonly pools = new Map<string, Pool>();

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
      [formatHeader]: formatId,
      ...(this.options.sign?.('POST', path, request.body) ?? {}),
    };
    // One controller per call, both its listeners removed afterwards (AbortSignal.any would leak them).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), request.timeoutMs);
    const onAbort = (): void => controller.abort(request.signal?.reason);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = controller.signal;
    try {
      const res = await this.pool(peer, url).request({ method: 'POST', path, body: request.body, headers, signal });
      const body = await readBounded(res.body, this.options.responseBytesMax ?? responseBytesMaxDefault, peer);
      if (res.statusCode >= 200 && res.statusCode < 300) return body;
      throw peerError(peer, res.statusCode, body);
    } catch (err) {
      throw mapError(peer, signal.aborted && signal.reason?.name === 'TimeoutError' ? signal.reason : err, request.timeoutMs);
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

  private pool(peer: string, url: string): Pool {
    let pool = this.pools.get(peer);
    if (pool === undefined) {
      const tls = this.options.tls;
      pool = new Pool(url, {
        connections: this.options.connectionsPerPeerMax ?? 16,
        pipelining: 1,
        ...(tls === undefined ? {} : { connect: { ...tls } }),
      });
      this.pools.set(peer, pool);
    }
    return pool;
  }
}

async function readBounded(body: AsyncIterable<Uint8Array> & { destroy(): unknown }, max: number, peer: string): Promise<Uint8Array> {
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
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { error?: { code?: string; message?: string } };
    const code = parsed.error?.code;
    if (code !== undefined && code in errorCodes) {
      return new ConvergeError(code as ErrorCode, `${peer}: ${parsed.error?.message ?? code}`);
    }
  } catch {
    // not JSON: fall through to a generic error
  }
  return new ConvergeError(status >= 500 ? 'UNAVAILABLE' : 'PROTOCOL_INVALID', `${peer} answered HTTP ${status}`);
}

function mapError(peer: string, err: unknown, timeoutMs: number): ConvergeError {
  if (err instanceof ConvergeError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError' || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new ConvergeError('TIMEOUT', `${peer} did not answer within ${timeoutMs} ms`);
  }
  if (e.name === 'AbortError') return new ConvergeError('UNAVAILABLE', `request to ${peer} was cancelled`);
  return new ConvergeError('UNAVAILABLE', `${peer} is unreachable: ${e.code ?? e.message ?? String(err)}`);
}
