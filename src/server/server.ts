// Starts one node: context, HTTP server, dashboard; stops it through an AbortSignal.

import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { Counter } from 'prom-client';
import type { NodeConfig } from '../config/config.js';
import type { Logger } from '../core/failures.js';
import { registerFailureMetric, useLogger } from '../runtime/logging.js';
import { clientAuthHook } from './auth/client-auth.js';
import { clusterSigner, clusterVerifier } from './auth/cluster-auth.js';
import { operatorAuditHook } from './auth/operator-audit.js';
import { ClientTokenStore } from './auth/token-store.js';
import { createServiceContext, type NodeContextOptions, type ServiceContext } from './context.js';
import { dashboardPlugin } from './dashboard/plugin.js';
import type { DemoControls } from './dashboard/types.js';
import { registerHealthMetrics } from './health-metrics.js';
import { buildHttpServer } from './http.js';
import { loadTlsMaterial, type TlsMaterial } from './tls.js';

export interface RunningNode {
  readonly ctx: ServiceContext;
  readonly app: FastifyInstance;
  /** The client tokens in force, reloadable (undefined without --client-tokens-file). */
  readonly tokens: ClientTokenStore | undefined;
  /** Base URL the node listens on. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface StartNodeOptions extends NodeContextOptions {
  readonly config: NodeConfig;
  readonly demo?: DemoControls;
  readonly signal?: AbortSignal;
  /** Hooks that run before every route (authentication). */
  readonly onRequest?: Parameters<typeof buildHttpServer>[0]['onRequest'];
  /**
   * The cluster's shared secret: internal requests are signed and verified with it (none: open, with a
   * warning).
   */
  readonly clusterSecret?: Buffer | undefined;
  /** Where the node's log lines go (operator actions, token reloads); stderr when absent. */
  readonly logDestination?: DestinationStream;
}

export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const { config } = options;
  const secret = options.clusterSecret;
  // Files are read before anything opens, so a bad certificate or tokens file fails the start cleanly.
  const tls = loadTlsMaterial(config.tls);
  const log = useLogger(config.logLevel, config.id, options.logDestination);
  const tokens = openTokenStore(config, log);
  const ctx = await createServiceContext({
    ...options,
    ...(secret === undefined ? {} : { sign: clusterSigner(config.id, secret) }),
    ...(tls.ca === undefined ? {} : { tls: { ca: tls.ca } }),
  });
  registerFailureMetric(ctx.registry);
  registerHealthMetrics(ctx.registry, () => ctx.storage.health());
  const app = buildApp(ctx, options, { tls, tokens, log });
  await app.register(dashboardPlugin, {
    status: () => ctx.status(),
    antiEntropy: () => ctx.antiEntropy?.status() ?? null,
    digest: () => ctx.replica.digest,
    demo: options.demo,
    peerCa: tls.ca,
  });
  const { host, port } = config.listen;
  try {
    await app.listen({ host, port });
  } catch (err) {
    tokens?.close();
    await ctx.close();
    throw err;
  }
  tokens?.watch(config.clientTokensPollMs);
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  const scheme = tls.server === undefined ? 'http' : 'https';
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    tokens?.close();
    await app.close();
    await ctx.close();
    log.info({}, 'node stopped');
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  log.info({ url, peers: config.peers.map((p) => p.id), dataDir: config.dataDir }, 'node started');
  return { ctx, app, tokens, url, stop };
}

/** The HTTP API with its hooks: cluster authentication, client tokens, the operator audit, and their counters. */
function buildApp(
  ctx: ServiceContext,
  options: StartNodeOptions,
  parts: { tls: TlsMaterial; tokens: ClientTokenStore | undefined; log: Logger },
): FastifyInstance {
  const { config } = ctx;
  const { tls, tokens, log } = parts;
  const secret = options.clusterSecret;
  const verifier = secret === undefined ? undefined : clusterVerifier({ secret });
  const dropped = new Counter({
    name: 'converge_http_connections_dropped_total',
    help: 'Connections refused because connectionsMax were open',
    registers: [ctx.registry],
  });
  const clientErrors = new Counter({
    name: 'converge_http_client_errors_total',
    help: 'Requests refused before routing: malformed HTTP, oversized headers, too slow',
    labelNames: ['code'],
    registers: [ctx.registry],
  });
  return buildHttpServer({
    node: ctx.node,
    status: () => ctx.status(),
    antiEntropy: () => ctx.antiEntropy,
    membership: () => ctx.services.membership,
    bodyBytesMax: config.limits.bodyBytesMax,
    onRequest: [
      ...(verifier === undefined ? [] : [verifier.onRequest]),
      ...(tokens === undefined ? [] : [clientAuthHook(() => tokens.tokens)]),
      ...(options.onRequest ?? []),
    ],
    preHandler: verifier === undefined ? [] : [verifier.preHandler],
    onSend: [operatorAuditHook({ log, antiEntropy: () => ctx.antiEntropy })],
    tokensOn: tokens !== undefined,
    http: config.http,
    https: tls.server,
    onConnectionDropped: () => dropped.inc(),
    onClientError: (code) => clientErrors.inc({ code }),
  });
}

/**
 * The tokens file, read now (a bad one fails the start); reloads are logged, a bad one keeps the old tokens.
 */
function openTokenStore(config: NodeConfig, log: Logger): ClientTokenStore | undefined {
  if (config.clientTokensFile === null) return undefined;
  return new ClientTokenStore(config.clientTokensFile, (why, r) => {
    if (r.ok) log.info({ file: config.clientTokensFile, why, tokens: r.tokens }, 'client tokens reloaded');
    else
      log.error(
        { file: config.clientTokensFile, why, error: r.error, tokens: r.tokens },
        'client tokens not reloaded; the previous tokens stay in force',
      );
  });
}
