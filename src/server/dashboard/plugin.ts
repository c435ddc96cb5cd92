// The dashboard as a fastify plugin: the page at `/`, its bundled assets, and the JSON the page needs beyond
// the node's own API (`/cluster`, `/digest/level`, `/cluster/digest`, the anti-entropy actions of any node,
// and the demo controls). It reads the node through the functions it is given and never changes it, except
// through the node's own public routes and the demo controls.

import type {
  FastifyError,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import type { AntiEntropyStatus } from '../../antientropy/types.js';
import type { DigestTree } from '../../core/digest.js';
import { ConvergeError } from '../../core/errors.js';
import type { NodeStatus } from '../../services/status.js';
import { registerAntiEntropyProxy } from './ae-proxy.js';
import { dashboardBundle } from './bundle.js';
import {
  asAntiEntropy,
  asMembership,
  errorText,
  PeerClient,
  peerDigestLevel,
  peerView,
  selfView,
} from './cluster-view.js';
import { registerDemoRoutes } from './demo-routes.js';
import { digestLevelView, parseLevel } from './digest-level.js';
import { RepairRun, registerRepairRun } from './repair-run.js';
import type { ClusterDigestView, ClusterView, DemoControls, NodeMembershipView } from './types.js';

export interface DashboardOptions {
  /** This node's status (the same object `GET /status` serialises). */
  readonly status: () => NodeStatus;
  /**
   * This node's anti-entropy state. When absent the plugin asks the node's own `GET /antientropy` (through
   * inject, no socket); null while the process is not wired.
   */
  readonly antiEntropy?: (() => AntiEntropyStatus | null) | undefined;
  /** This node's digest tree, read (never written) for the keyspace view. */
  readonly digest: () => DigestTree;
  /** The scenario controls; undefined outside `converge demo`, and then `/demo/*` answers 404. */
  readonly demo: DemoControls | undefined;
  /** How long the serving node waits for a peer's answer before marking it unreachable. */
  readonly peerTimeoutMs?: number | undefined;
  /** The CA that https:// peers' certificates chain to (the node's --tls-ca). */
  readonly peerCa?: Buffer | undefined;
}

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const client = new PeerClient(options.peerTimeoutMs, options.peerCa);
  app.addHook('onClose', async () => client.close());
  app.setErrorHandler(replyError);
  // Build (or reuse) the bundle now, so a broken web/ fails the server's start, not the first page view.
  await dashboardBundle();
  registerAssets(app);
  const repairRun = new RepairRun(app, () => options.status(), client);
  registerClusterRoutes(app, options, client, repairRun);
  registerAntiEntropyProxy(app, () => options.status(), client);
  registerRepairRun(app, repairRun);
  registerDemoRoutes(app, options.demo, () => options.status().id);
};

function replyError(err: FastifyError | ConvergeError, _req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ConvergeError) {
    void reply.code(err.httpStatus).send(err.toJSON());
    return;
  }
  const status =
    typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500
      ? err.statusCode
      : 500;
  const code = status === 500 ? 'INTERNAL' : 'BAD_REQUEST';
  const message = status === 500 ? 'internal error in the dashboard' : err.message;
  void reply.code(status).send({ error: { code, message } });
}

function registerAssets(app: FastifyInstance): void {
  app.get('/', async (_req, reply) => {
    const bundle = await dashboardBundle();
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(bundle.html);
  });
  app.get('/assets/app.js', async (_req, reply) => {
    const bundle = await dashboardBundle();
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(bundle.js);
  });
  app.get('/assets/app.css', async (_req, reply) => {
    const bundle = await dashboardBundle();
    return reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(bundle.css);
  });
}

function registerClusterRoutes(
  app: FastifyInstance,
  options: DashboardOptions,
  client: PeerClient,
  repairRun: RepairRun,
): void {
  app.get('/cluster', async (req): Promise<ClusterView> => {
    const status = options.status();
    const auth = req.headers.authorization;
    const [ae, members] = await Promise.all([ownAntiEntropy(app, options, auth), ownMembership(app, auth)]);
    const own = selfView(status, ae, members);
    const peers = await Promise.all(
      status.peers.map((p) => peerView(client, { id: p.id, url: p.url }, auth)),
    );
    const demo = options.demo;
    const demoView =
      demo === undefined ? null : { ...demo.state(), mechanismsSwitchable: demo.setMechanism !== undefined };
    return {
      self: status.id,
      nowMs: Date.now(),
      repairRun: repairRun.current(),
      demo: demoView,
      nodes: [own, ...peers],
    };
  });

  app.get('/digest/level', async (req) => {
    const tree = options.digest();
    const level = parseLevel(queryOf(req).level, tree.leafBits);
    const status = options.status();
    return digestLevelView(status.id, tree, level, status.digest.ready);
  });

  app.get('/cluster/digest', async (req): Promise<ClusterDigestView> => {
    const tree = options.digest();
    const level = parseLevel(queryOf(req).level, tree.leafBits);
    const status = options.status();
    const own = {
      id: status.id,
      digest: digestLevelView(status.id, tree, level, status.digest.ready),
      error: null,
    };
    const peers = await Promise.all(
      status.peers.map(async (p) => {
        try {
          const auth = req.headers.authorization;
          return { id: p.id, digest: await peerDigestLevel(client, p, level, auth), error: null };
        } catch (err) {
          return { id: p.id, digest: null, error: errorText(err) };
        }
      }),
    );
    return { level, nodes: [own, ...peers] };
  });
}

/** This node's `GET /cluster/members` (through inject, no socket); null without a membership service. */
async function ownMembership(
  app: FastifyInstance,
  authorization: string | undefined,
): Promise<NodeMembershipView | null> {
  const headers = authorization === undefined ? {} : { authorization };
  const res = await app.inject({ method: 'GET', url: '/cluster/members', headers });
  return res.statusCode === 200 ? asMembership(res.json()) : null;
}

async function ownAntiEntropy(
  app: FastifyInstance,
  options: DashboardOptions,
  authorization: string | undefined,
): Promise<AntiEntropyStatus | null> {
  if (options.antiEntropy !== undefined) return options.antiEntropy();
  const headers = authorization === undefined ? {} : { authorization };
  const res = await app.inject({ method: 'GET', url: '/antientropy', headers });
  return res.statusCode === 200 ? asAntiEntropy(res.json()) : null;
}

export function queryOf(req: FastifyRequest): Record<string, unknown> {
  return (req.query ?? {}) as Record<string, unknown>;
}
