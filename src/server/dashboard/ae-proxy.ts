// `POST /cluster/nodes/:id/antientropy/:action` forwards run, pause, resume, cancel or throttle to any node's
// public route, so the page drives every node from one origin. A node's `/antientropy/run` answers only when
// its sessions end; the proxy waits a moment for that answer and otherwise replies 202 and lets the request
// run on, so a long session never turns into a timeout error on the page.

import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { ConvergeError } from '../../core/errors.js';
import { logFailure } from '../../core/failures.js';
import type { NodeStatus } from '../../services/status.js';
import { errorText, type PeerClient } from './cluster-view.js';

const aeActions = new Set(['run', 'pause', 'resume', 'cancel', 'throttle']);
/** Query parameters passed on to the node's route; anything else is dropped. */
const forwardedParams = ['peer', 'records', 'bytes'];
/** How long the proxy waits for the node's answer before replying 202. */
export const aeAnswerWaitMs = 1_500;
/** How long a forwarded request may run in the background (a session's own limit is far lower). */
const aeRequestMsMax = 10 * 60_000;

interface Answer {
  readonly statusCode: number;
  readonly body: unknown;
}

export function forward(
  app: FastifyInstance,
  status: NodeStatus,
  client: PeerClient,
  id: string,
  path: string,
  authorization: string | undefined,
): Promise<Answer> {
  // The caller's token goes along, so the node checks it and its history names the caller.
  const headers = authorization === undefined ? {} : { authorization };
  if (id === status.id) {
    return app.inject({ method: 'POST', url: path, headers }).then((res) => ({
      statusCode: res.statusCode,
      body: res.body.length > 0 ? (JSON.parse(res.body) as unknown) : {},
    }));
  }
  const peer = status.peers.find((p) => p.id === id);
  if (peer === undefined) throw new ConvergeError('PEER_UNKNOWN', `no node ${id} among this node's peers`);
  return client.postJson(peer.url, path, aeRequestMsMax, authorization).catch((err: unknown) => {
    throw new ConvergeError('UNAVAILABLE', `node ${id} did not answer: ${errorText(err)}`);
  });
}

export function registerAntiEntropyProxy(
  app: FastifyInstance,
  status: () => NodeStatus,
  client: PeerClient,
): void {
  app.post('/cluster/nodes/:id/antientropy/:action', async (req, reply) => {
    const { id, action } = req.params as { id: string; action: string };
    if (!aeActions.has(action)) throw new ConvergeError('NOT_FOUND', `no anti-entropy action ${action}`);
    const query = (req.query ?? {}) as Record<string, unknown>;
    const params = new URLSearchParams();
    for (const name of forwardedParams) {
      const v = query[name];
      if (typeof v === 'string') params.set(name, v);
    }
    const suffix = params.size > 0 ? `?${params.toString()}` : '';
    const answer = forward(
      app,
      status(),
      client,
      id,
      `/antientropy/${action}${suffix}`,
      req.headers.authorization,
    );
    const waiting = new AbortController();
    const pending = delay(aeAnswerWaitMs, null, { ref: false, signal: waiting.signal }).catch(() => null);
    const first = await Promise.race([answer, pending]);
    waiting.abort();
    if (first === null) {
      answer.catch(logFailure('dashboard session run', 'debug')); // runs on; its outcome shows in the node's history
      return reply.code(202).send({ accepted: true, node: id, action });
    }
    return reply.code(first.statusCode).send(first.body ?? {});
  });
}
