// Starts one node: context, HTTP server, dashboard; stops it through an AbortSignal.

import type { FastifyInstance } from 'fastify';
import type { NodeConfig } from '../config/config.js';
import { type ServiceContext, createServiceContext, type NodeContextOptions } from './context.js';
import { dashboardPlugin } from './dashboard/plugin.js';
import type { DemoControls } from './dashboard/types.js';
import { clusterSigner, clusterVerifier } from './auth/cluster-auth.js';
import { buildHttpServer } from './http.js';

export interface RunningNode {
  readonly ctx: ServiceContext;
  readonly app: FastifyInstance;
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
  readonly https?: { key: Buffer; cert: Buffer; ca?: Buffer };
  /** The cluster's shared secret: internal requests are signed and verified with it (none: open, with a warning). */
  readonly clusterSecret?: Buffer | undefined;
  /** Wires extra subsystems (anti-entropy) into the context before the server listens. */
  readonly extend?: (ctx: ServiceContext) => Promise<void> | void;
}

export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const secret = options.clusterSecret;
  const ctx = await createServiceContext(secret === undefined ? options : { ...options, sign: clusterSigner(options.config.id, secret) });
  await options.extend?.(ctx);
  const verifier = secret === undefined ? undefined : clusterVerifier({ secret });
  const app = buildHttpServer({
    node: ctx.node,
    antiEntropy: () => ctx.antiEntropy,
    bodyBytesMax: options.config.limits.bodyBytesMax,
    onRequest: [...(verifier === undefined ? [] : [verifier.onRequest]), ...(options.onRequest ?? [])],
    preHandler: verifier === undefined ? [] : [verifier.preHandler],
    https: options.https,
  });
  await app.register(dashboardPlugin, {
    status: () => ctx.node.status(),
    antiEntropy: () => ctx.antiEntropy?.status() ?? null,
    digest: () => ctx.replica.digest,
    demo: options.demo,
  });
  const { host, port } = options.config.listen;
  try {
    await app.listen({ host, port });
  } catch (err) {
    await ctx.close();
    throw err;
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  const scheme = options.https === undefined ? 'http' : 'https';
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await app.close();
    await ctx.close();
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  return { ctx, app, url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${actualPort}`, stop };
}
