// The HTTP API of a node (docs/http-api.md): key-value routes with consistency levels, status, metrics,
// anti-entropy controls, and node-to-node traffic under /internal/. Errors are always JSON
// `{"error":{"code","message"}}` with the status of their code; never a stack trace.

import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { parseBatch } from '../cluster/batch.js';
import { membershipRoutes } from '../cluster/membership-routes.js';
import type { MembershipService } from '../cluster/membership-service.js';
import type { ConvergeNode } from '../cluster/node.js';
import { ringHeader } from '../cluster/node-ring.js';
import { type Consistency, consistencyLevels } from '../cluster/node-types.js';
import { ConvergeError } from '../core/errors.js';
import { checkPeerFormat, formatHeader } from '../core/format.js';
import type { NodeStatus } from '../services/status.js';
import type { AntiEntropyControl } from './antientropy-control.js';
import { registerWhoami } from './auth/operator-audit.js';
import { trackRoutes } from './auth/route-roles.js';
import { registerClock } from './clock-routes.js';
import { registerMembership } from './membership-routes.js';

export interface HttpOptions {
  readonly node: ConvergeNode;
  /** /status, composed from the node's and anti-entropy's own statuses (services/node-services.ts). */
  readonly status: () => NodeStatus;
  readonly antiEntropy: () => AntiEntropyControl | undefined;
  /** The membership (GET /cluster/members and the changes); absent in a bare server. */
  readonly membership?: () => MembershipService | undefined;
  readonly bodyBytesMax: number;
  /** Hooks that run before any route (authentication lands here). */
  readonly onRequest?: ReadonlyArray<(req: FastifyRequest, reply: FastifyReply) => Promise<void>>;
  /** Hooks that run after the body is read, before the handler (body authentication). */
  readonly preHandler?: ReadonlyArray<(req: FastifyRequest, reply: FastifyReply) => Promise<void>>;
  /** Hooks that see every answer before it leaves (the operator audit). */
  readonly onSend?: ReadonlyArray<
    (req: FastifyRequest, reply: FastifyReply, payload: unknown) => Promise<unknown>
  >;
  /** Whether client tokens are on (`GET /auth/whoami` says so). */
  readonly tokensOn?: boolean;
  /** Connection limits and slow-client timeouts (docs/operations.md). */
  readonly http?: HttpServerLimits;
  readonly https?: { key: Buffer; cert: Buffer; ca?: Buffer } | undefined;
  /** Told about every connection refused at connectionsMax and every request the HTTP parser refused. */
  readonly onConnectionDropped?: () => void;
  readonly onClientError?: (code: string) => void;
}

export interface HttpServerLimits {
  readonly connectionsMax: number;
  readonly headersTimeoutMs: number;
  readonly receiveTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export const httpServerLimitsDefault: HttpServerLimits = {
  connectionsMax: 1024,
  headersTimeoutMs: 10_000,
  receiveTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
};

const clientErrorLingerMs = 1000;

/**
 * Node checks its headers and request timeouts on this period (its default of 30 s lets a slow client
 * linger).
 */
export function connectionsCheckIntervalMs(limits: HttpServerLimits): number {
  return Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)));
}

export function buildHttpServer(options: HttpOptions): FastifyInstance {
  const limits = options.http ?? httpServerLimitsDefault;
  const app = createFastify(options, limits);
  // Every route's role is looked up in auth/route-roles.ts; the roles test walks this list.
  trackRoutes(app);
  app.server.maxConnections = limits.connectionsMax;
  app.server.headersTimeout = limits.headersTimeoutMs;
  if (options.onConnectionDropped !== undefined) app.server.on('drop', options.onConnectionDropped);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (req, reply) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      return reply
        .code(400)
        .send(new ConvergeError('BAD_REQUEST', 'an HTTP/1.1 request must carry a Host header').toJSON());
    }
  });
  for (const hook of options.onRequest ?? []) app.addHook('onRequest', hook);
  for (const hook of options.preHandler ?? []) app.addHook('preHandler', hook);
  for (const hook of options.onSend ?? []) app.addHook('onSend', hook);
  app.setErrorHandler(replyError);
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send(new ConvergeError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toJSON());
  });
  registerKv(app, options.node);
  registerStatus(app, options);
  registerAntiEntropy(app, options.antiEntropy);
  registerWhoami(app, options.tokensOn === true);
  registerClock(app, options.node);
  registerMembership(app, options.membership ?? (() => undefined), options.node.registry);
  registerInternal(app, options.node);
  return app;
}

/** Fastify with node's server options: connection limits, slow-client timeouts, TLS when configured. */
function createFastify(options: HttpOptions, limits: HttpServerLimits): FastifyInstance {
  // Options of node's own server (https.createServer takes them beside the TLS ones).
  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.receiveTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: connectionsCheckIntervalMs(limits),
    // Node would answer a missing Host with an empty 400; the hook below says what was wrong instead.
    requireHostHeader: false,
  };
  return Fastify({
    logger: false,
    bodyLimit: options.bodyBytesMax,
    routerOptions: { maxParamLength: 8192 },
    connectionTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.receiveTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    clientErrorHandler: clientErrorHandler(limits, options.onClientError),
    // Malformed percent-encoding is refused by the router before any route: answer in our error format.
    frameworkErrors: (_err: Error, _req: FastifyRequest, reply: FastifyReply) => {
      void reply
        .code(400)
        .send(
          new ConvergeError('KEY_INVALID', 'the request path is not valid percent-encoded UTF-8').toJSON(),
        );
    },
    ...(options.https === undefined
      ? { http: serverOptions }
      : { https: { ...options.https, ...serverOptions } }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
}

/** The peers' internal requests, checked for a compatible format, handed to the node. */
function registerInternal(app: FastifyInstance, node: ConvergeNode): void {
  app.post('/internal/*', async (req, reply) => {
    const route = (req.params as { '*': string })['*'];
    const [from, ring] = [headerText(req, 'x-converge-from'), headerText(req, ringHeader)];
    checkPeerFormat(req.headers[formatHeader], from);
    // A membership change's streaming session (or a partition drop) answers when done, which may outlast
    // --idle-timeout while nothing moves on the connection: its idle timer is lifted meanwhile.
    const long = route === membershipRoutes.stream || route === membershipRoutes.drop;
    const socket = long && typeof req.raw.socket?.setTimeout === 'function' ? req.raw.socket : undefined;
    const idleMs = socket?.timeout ?? 0;
    socket?.setTimeout(0);
    let body: Uint8Array;
    try {
      body = await node.handleInternal(route, bodyOf(req), from, ring);
    } finally {
      if (socket !== undefined && !socket.destroyed) socket.setTimeout(idleMs);
    }
    return reply
      .type('application/octet-stream')
      .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}

function headerText(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function registerKv(app: FastifyInstance, node: ConvergeNode): void {
  // A batch's body may exceed bodyBytesMax (base64 values, JSON framing): its own limits are checked on the
  // decoded keys and values; this bound only stops a body far past them before it is read.
  const limits = node.ctx.limits;
  const batchBodyLimit = Math.max(2 * limits.batchBytesMax + 64 * limits.batchKeysMax + 65_536, 1);
  app.post('/kv', { bodyLimit: batchBodyLimit }, async (req) => {
    const consistency = consistencyOf(req);
    const ops = parseBatch(bodyOf(req), limits);
    return node.batch(ops, consistency);
  });
  app.put('/kv/*', async (req) => node.put(keyOf(req), bodyOf(req), consistencyOf(req)));
  app.delete('/kv/*', async (req) => node.del(keyOf(req), consistencyOf(req)));
  app.get('/kv/*', async (req, reply) => {
    const result = await node.get(keyOf(req), consistencyOf(req));
    if (!result.found) {
      // Only the replicas that answered are known: another may hold a write that has not reached them yet.
      const replied = [...result.replied].sort();
      const what = result.version === undefined ? 'not found' : `deleted (version ${result.version})`;
      throw new ConvergeError(
        'NOT_FOUND',
        `key ${keyOf(req)} ${what} on the replicas that answered (${replied.join(', ')})`,
        {
          replied,
          ...(result.version === undefined ? {} : { deletedVersion: result.version }),
        },
      );
    }
    void reply.header('x-converge-version', result.version ?? '');
    void reply.header('x-converge-replied', result.replied.join(','));
    return reply.type('application/octet-stream').send(Buffer.from(result.value!));
  });
}

function registerStatus(app: FastifyInstance, options: HttpOptions): void {
  app.get('/status', async () => options.status());
  app.get('/metrics', async (_req, reply) => {
    const text = await options.node.registry.metrics();
    return reply.type(options.node.registry.contentType).send(text);
  });
}

function registerAntiEntropy(app: FastifyInstance, control: () => AntiEntropyControl | undefined): void {
  const need = (): AntiEntropyControl => {
    const ae = control();
    if (ae === undefined)
      throw new ConvergeError('UNAVAILABLE', 'anti-entropy is switched off on this node (--no-anti-entropy)');
    return ae;
  };
  app.get('/antientropy', async () => need().status());
  app.post('/antientropy/run', async (req) => {
    const peer = (req.query as { peer?: string }).peer;
    const ae = need();
    // The request is complete and the answer waits for the sessions, which may outlast --idle-timeout while
    // nothing moves on this connection: lift its idle timer until the answer is out, then restore it.
    // A request injected in-process (the dashboard's proxy) has a stand-in socket without timers.
    const socket = typeof req.raw.socket?.setTimeout === 'function' ? req.raw.socket : undefined;
    const idleMs = socket?.timeout ?? 0;
    socket?.setTimeout(0);
    try {
      return { sessions: await ae.runNow(peer === '' ? undefined : peer) };
    } finally {
      if (socket !== undefined && !socket.destroyed) socket.setTimeout(idleMs);
    }
  });
  app.post('/antientropy/pause', async () => {
    await need().pause();
    return { paused: true };
  });
  app.post('/antientropy/cancel', async (req) => {
    const peer = (req.query as { peer?: string }).peer;
    return { cancelled: need().cancel(peer === undefined || peer === '' ? undefined : peer) };
  });
  app.post('/antientropy/resume', async () => {
    await need().resume();
    return { paused: false };
  });
  app.get('/antientropy/preview', async (req) => {
    const q = req.query as { peer?: string; limit?: string };
    if (q.peer === undefined || q.peer === '')
      throw new ConvergeError('BAD_REQUEST', 'preview needs ?peer=ID');
    const limit = q.limit === undefined ? 1000 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
      throw new ConvergeError('LIMIT_EXCEEDED', 'limit must be 1..100000');
    return need().preview(q.peer, limit);
  });
  app.post('/antientropy/throttle', async (req) => {
    const q = req.query as { records?: string; bytes?: string };
    const parse = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0)
        throw new ConvergeError('BAD_REQUEST', `${name} must be a positive number`);
      return n;
    };
    const records = parse('records', q.records);
    const bytes = parse('bytes', q.bytes);
    need().setThrottle({
      ...(records === undefined ? {} : { recordsPerSecondMax: records }),
      ...(bytes === undefined ? {} : { bytesPerSecondMax: bytes }),
    });
    return need().status().throttle;
  });
}

/** The key is the rest of the raw path, percent-decoded once; invalid encodings are refused. */
function keyOf(req: FastifyRequest): string {
  const raw = req.url.slice(req.url.indexOf('/kv/') + 4).split('?')[0]!;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ConvergeError('KEY_INVALID', 'the key is not valid percent-encoded UTF-8');
  }
}

function bodyOf(req: FastifyRequest): Uint8Array {
  const body = req.body;
  if (body === undefined || body === null) return new Uint8Array(0);
  if (Buffer.isBuffer(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new ConvergeError('BAD_REQUEST', 'unexpected request body');
}

function consistencyOf(req: FastifyRequest): Consistency {
  const c = (req.query as { consistency?: unknown }).consistency ?? 'quorum';
  if (typeof c !== 'string' || !consistencyLevels.includes(c as Consistency)) {
    throw new ConvergeError(
      'CONSISTENCY_INVALID',
      `consistency must be one of ${consistencyLevels.join(', ')} (got ${String(c)})`,
    );
  }
  return c as Consistency;
}

/**
 * Requests the HTTP parser refuses (bad syntax, oversized headers) or that arrive too slowly never reach a
 * route: answer them in the same JSON error format, naming what was wrong, and close the connection.
 */
function clientErrorHandler(limits: HttpServerLimits, onClientError: ((code: string) => void) | undefined) {
  return (err: Error & { code?: string; reason?: string }, socket: Duplex): void => {
    onClientError?.(err.code ?? 'unknown');
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let error: ConvergeError;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      error = new ConvergeError(
        'REQUEST_TIMEOUT',
        `the request arrived too slowly: headers must be complete within headersTimeoutMs ${limits.headersTimeoutMs}, the whole request within receiveTimeoutMs ${limits.receiveTimeoutMs}`,
      );
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      error = new ConvergeError('HEADERS_TOO_LARGE', `the request headers exceed ${maxHeaderSize} bytes`);
    } else {
      error = new ConvergeError(
        'BAD_REQUEST',
        `malformed HTTP request: ${err.reason ?? err.message} (${err.code ?? 'no code'})`,
      );
    }
    const body = JSON.stringify(error.toJSON());
    const status = error.httpStatus;
    const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // A client that never reads its answer must not keep the socket: it is destroyed after a short linger.
    const linger = setTimeout(() => socket.destroy(), clientErrorLingerMs);
    linger.unref();
    socket.end(head + body, () => {
      clearTimeout(linger);
      socket.destroy();
    });
  };
}

function replyError(err: FastifyError | ConvergeError, _req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ConvergeError) {
    const retryAfter = err.details?.retryAfterSeconds;
    if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
    void reply.code(err.httpStatus).send(err.toJSON());
    return;
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status === 413) {
    void reply
      .code(413)
      .send(
        new ConvergeError('BODY_TOO_LARGE', `request body exceeds bodyBytesMax: ${err.message}`).toJSON(),
      );
  } else if (status >= 400 && status < 500) {
    void reply.code(status).send(new ConvergeError('BAD_REQUEST', err.message).toJSON());
  } else {
    void reply.code(500).send(new ConvergeError('INTERNAL', 'internal error; see the node log').toJSON());
    console.error(`converge: internal error: ${err.stack ?? err.message}`);
  }
}
