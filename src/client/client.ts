// The TypeScript client of a converge node (docs/client.md): keys are strings, values are bytes. Every method
// talks to one node over undici (a keep-alive pool, never the global fetch) and throws ConvergeClientError
// carrying the node's code, status and details. Reads are retried; writes only when nothing was applied.

import { Agent, type Dispatcher } from 'undici';
import type {
  AntiEntropyStatus,
  RepairPreview,
  SessionHistoryEntry,
  Throttle,
} from '../antientropy/types.js';
import type { BatchResult, Consistency } from '../cluster/node-types.js';
import type { NodeStatus } from '../services/status.js';
import { ConvergeClientError } from './errors.js';
import {
  type Answer,
  type Connection,
  exchange,
  headerOf,
  jsonOf,
  type Method,
  notANode,
} from './request.js';

export interface ClientOptions {
  /** The node's base URL (`http://127.0.0.1:7101`); a bare `host:port` means http://. */
  readonly url: string;
  /** Consistency of reads and writes unless a call says otherwise (default `quorum`). */
  readonly consistency?: Consistency;
  /** How long one attempt may take, connection to last byte (default 10 s). */
  readonly timeoutMs?: number;
  /** CA certificate (PEM) that an https:// node's certificate must chain to. */
  readonly ca?: string | Uint8Array;
  /** A client token (docs/security.md), sent as `Authorization: Bearer TOKEN`. */
  readonly token?: string;
  /** Further attempts after the first, for requests that may be sent again (default 2). */
  readonly retries?: number;
  /**
   * Wait before the first retry, doubled for each next one, unless the node sends Retry-After (default 100
   * ms).
   */
  readonly retryDelayMs?: number;
  /** An undici dispatcher to use instead of the client's own (the client then never closes it). */
  readonly dispatcher?: Dispatcher;
}

export const clientDefaults = {
  consistency: 'quorum',
  timeoutMs: 10_000,
  retries: 2,
  retryDelayMs: 100,
} as const;

export interface CallOptions {
  readonly consistency?: Consistency;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What a write returns: the version it got and which replicas persisted it. */
export interface WriteResult {
  readonly version: string;
  readonly acknowledged: readonly string[];
  readonly unreachable: readonly string[];
  readonly hinted: readonly string[];
}

/** One operation of a batch: a put (the default) with a string or bytes value, or a delete. */
export type BatchOperation =
  | { readonly op?: 'put'; readonly key: string; readonly value: Uint8Array | string }
  | { readonly op: 'del'; readonly key: string };

export interface ReadValue {
  readonly key: string;
  readonly value: Uint8Array;
  /** `ms.counter@node` of the winning record. */
  readonly version: string;
  /** Replicas whose answers the read merged. */
  readonly replied: readonly string[];
}

interface Shared {
  readonly dispatcher: Dispatcher;
  readonly ownsDispatcher: boolean;
  readonly authorization: string | undefined;
}

export class Client {
  readonly url: string;
  private readonly conn: Connection;
  private readonly consistency: Consistency;
  private readonly timeoutMs: number;
  private readonly shared: Shared;
  private readonly options: ClientOptions;

  constructor(options: ClientOptions, shared?: Shared) {
    this.url = normaliseUrl(options.url);
    const token = options.token?.trim();
    if (token !== undefined && (token === '' || /\s/.test(token))) {
      throw new ConvergeClientError('TOKEN_INVALID', 'the client token must be one word', {
        url: this.url,
        applied: 'no',
      });
    }
    const own = shared ?? {
      dispatcher:
        options.dispatcher ?? new Agent(options.ca === undefined ? {} : { connect: { ca: pem(options.ca) } }),
      ownsDispatcher: options.dispatcher === undefined,
      authorization: token === undefined ? undefined : `Bearer ${token}`,
    };
    this.shared = own;
    this.consistency = options.consistency ?? clientDefaults.consistency;
    this.timeoutMs = options.timeoutMs ?? clientDefaults.timeoutMs;
    this.conn = {
      origin: this.url,
      dispatcher: own.dispatcher,
      authorization: own.authorization,
      retries: options.retries ?? clientDefaults.retries,
      retryDelayMs: options.retryDelayMs ?? clientDefaults.retryDelayMs,
    };
    this.options = options;
  }

  /** A client for another node of the same cluster, sharing this one's connections, CA and token. */
  forNode(url: string, overrides: Omit<ClientOptions, 'url' | 'ca' | 'token' | 'dispatcher'> = {}): Client {
    return new Client({ ...this.options, ...overrides, url }, { ...this.shared, ownsDispatcher: false });
  }

  async put(key: string, value: Uint8Array | string, options: CallOptions = {}): Promise<WriteResult> {
    const body = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    return this.json<WriteResult>('PUT', this.kvPath(key, options), { body, idempotent: false, ...options });
  }

  /** The key's value; throws NOT_FOUND (404) when no replica that answered holds it. */
  async get(key: string, options: CallOptions = {}): Promise<ReadValue> {
    const answer = await this.send('GET', this.kvPath(key, options), { idempotent: true, ...options });
    const version = headerOf(answer, 'x-converge-version');
    // A web server at the URL would answer 200 too, without the version a node always sends.
    if (version === undefined) throw notANode(this.url, answer);
    const replied = headerOf(answer, 'x-converge-replied');
    return {
      key,
      value: answer.body,
      version,
      replied: replied === undefined || replied === '' ? [] : replied.split(','),
    };
  }

  /** Like get, but a key that is not found gives undefined. */
  async find(key: string, options: CallOptions = {}): Promise<ReadValue | undefined> {
    try {
      return await this.get(key, options);
    } catch (err) {
      if (err instanceof ConvergeClientError && err.code === 'NOT_FOUND' && err.status === 404)
        return undefined;
      throw err;
    }
  }

  /** Deletes the key (writes a tombstone). */
  async delete(key: string, options: CallOptions = {}): Promise<WriteResult> {
    return this.json<WriteResult>('DELETE', this.kvPath(key, options), { idempotent: false, ...options });
  }

  /**
   * Writes and deletes many keys in one request (docs/http-api.md, "Batches"): validated whole by the node,
   * admitted whole, one result per key in order. A batch refused OVERLOADED was applied nowhere and is sent
   * again (after Retry-After); any other failure is not, since some keys may have been applied.
   */
  async batch(operations: readonly BatchOperation[], options: CallOptions = {}): Promise<BatchResult> {
    const lines = operations.map((o) => {
      if (o.op === 'del') return JSON.stringify({ op: 'del', key: o.key });
      return typeof o.value === 'string'
        ? JSON.stringify({ key: o.key, value: o.value })
        : JSON.stringify({
            key: o.key,
            valueBase64: Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength).toString(
              'base64',
            ),
          });
    });
    const consistency = options.consistency ?? this.consistency;
    const body = new TextEncoder().encode(lines.join('\n'));
    return this.json<BatchResult>('POST', `/kv?consistency=${encodeURIComponent(consistency)}`, {
      body,
      idempotent: false,
      ...options,
    });
  }

  async status(options: CallOptions = {}): Promise<NodeStatus> {
    return this.json<NodeStatus>('GET', '/status', { idempotent: true, ...options });
  }

  async antiEntropyStatus(options: CallOptions = {}): Promise<AntiEntropyStatus> {
    return this.json<AntiEntropyStatus>('GET', '/antientropy', { idempotent: true, ...options });
  }

  /** Runs a session now with every peer, or one; resolves when they end (give a long timeoutMs). */
  async runAntiEntropy(
    peer?: string,
    options: CallOptions = {},
  ): Promise<{ sessions: SessionHistoryEntry[] }> {
    const query = peer === undefined ? '' : `?peer=${encodeURIComponent(peer)}`;
    return this.json('POST', `/antientropy/run${query}`, { idempotent: false, ...options });
  }

  async pauseAntiEntropy(options: CallOptions = {}): Promise<{ paused: boolean }> {
    return this.json('POST', '/antientropy/pause', { idempotent: true, ...options });
  }

  async resumeAntiEntropy(options: CallOptions = {}): Promise<{ paused: boolean }> {
    return this.json('POST', '/antientropy/resume', { idempotent: true, ...options });
  }

  /** What a session with the peer would repair, which way and why; writes nothing. */
  async previewRepair(peer: string, limit: number, options: CallOptions = {}): Promise<RepairPreview> {
    const path = `/antientropy/preview?peer=${encodeURIComponent(peer)}&limit=${encodeURIComponent(String(limit))}`;
    return this.json('GET', path, { idempotent: true, ...options });
  }

  async setThrottle(throttle: Partial<Throttle>, options: CallOptions = {}): Promise<Throttle> {
    const q = new URLSearchParams();
    if (throttle.recordsPerSecondMax !== undefined) q.set('records', String(throttle.recordsPerSecondMax));
    if (throttle.bytesPerSecondMax !== undefined) q.set('bytes', String(throttle.bytesPerSecondMax));
    return this.json('POST', `/antientropy/throttle?${q}`, { idempotent: true, ...options });
  }

  /**
   * A JSON route the typed methods do not cover yet. `idempotent` says whether the request may be sent again
   * after a failure that may have applied it.
   */
  async requestJson<T>(
    method: Method,
    path: string,
    options: CallOptions & { body?: Uint8Array; idempotent: boolean },
  ): Promise<T> {
    return this.json<T>(method, path, options);
  }

  /** Closes the client's connections (not a dispatcher that was passed in). */
  async close(): Promise<void> {
    if (this.shared.ownsDispatcher) await this.shared.dispatcher.close();
  }

  private kvPath(key: string, options: CallOptions): string {
    const consistency = options.consistency ?? this.consistency;
    return `/kv/${encodeURIComponent(key)}?consistency=${encodeURIComponent(consistency)}`;
  }

  private async json<T>(
    method: Method,
    path: string,
    options: CallOptions & { body?: Uint8Array; idempotent: boolean },
  ): Promise<T> {
    return jsonOf<T>(this.url, await this.send(method, path, options));
  }

  private send(
    method: Method,
    path: string,
    options: CallOptions & { body?: Uint8Array; idempotent: boolean },
  ): Promise<Answer> {
    return exchange(this.conn, {
      method,
      path,
      body: options.body,
      idempotent: options.idempotent,
      timeoutMs: options.timeoutMs ?? this.timeoutMs,
      signal: options.signal,
    });
  }
}

/** `host:port` → `http://host:port`; the path and trailing slashes are dropped (routes are absolute). */
export function normaliseUrl(url: string): string {
  const full = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(full);
  } catch {
    throw new ConvergeClientError(
      'BAD_REQUEST',
      `"${url}" is not a node URL (example: http://127.0.0.1:7101)`,
      {
        url,
        applied: 'no',
      },
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConvergeClientError('BAD_REQUEST', `"${url}" is not an http:// or https:// URL`, {
      url,
      applied: 'no',
    });
  }
  return parsed.origin;
}

function pem(ca: string | Uint8Array): string | Buffer {
  return typeof ca === 'string' ? ca : Buffer.from(ca.buffer, ca.byteOffset, ca.byteLength);
}
