// A repair run across every pair of replicas, started from the dashboard: one session per pair, pair after
// pair (a node runs one session at a time by default, so running them at once would only queue them), each
// begun by the first node of the pair through its own `/antientropy/run?peer=`. The serving node keeps the
// run's progress and the page reads it with `GET /cluster`; one run at a time per serving node.

import type { FastifyInstance } from 'fastify';
import type { SessionHistoryEntry } from '../../antientropy/types.js';
import { ConvergeError } from '../../core/errors.js';
import type { NodeStatus } from '../../services/status.js';
import { forward } from './ae-proxy.js';
import { errorText, type PeerClient } from './cluster-view.js';
import type { RepairRunPair, RepairRunView } from './types.js';

type PairState = { -readonly [K in keyof RepairRunPair]: RepairRunPair[K] };

export class RepairRun {
  private view: { startedAtMs: number; endedAtMs: number | null; pairs: PairState[] } | null = null;
  private stopped = false;

  constructor(
    private readonly app: FastifyInstance,
    private readonly status: () => NodeStatus,
    private readonly client: PeerClient,
  ) {}

  current(): RepairRunView | null {
    const v = this.view;
    if (v === null) return null;
    const done = v.pairs.filter((p) => p.state === 'done' || p.state === 'failed').length;
    return {
      startedAtMs: v.startedAtMs,
      endedAtMs: v.endedAtMs,
      total: v.pairs.length,
      done,
      pairs: v.pairs.map((p) => ({ ...p })),
    };
  }

  /** `authorization` is the caller's header: every node the run asks checks it and names the caller. */
  start(authorization?: string): RepairRunView {
    if (this.view !== null && this.view.endedAtMs === null) {
      throw new ConvergeError('CONFLICT', 'a repair run is already going on; follow it under Operations');
    }
    const st = this.status();
    const ids = [st.id, ...st.peers.map((p) => p.id)];
    const pairs: PairState[] = [];
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        pairs.push({ a: ids[i]!, b: ids[j]!, state: 'pending', keysRepaired: 0, result: null, error: null });
      }
    }
    this.view = { startedAtMs: Date.now(), endedAtMs: null, pairs };
    void this.runAll(this.view, authorization);
    return this.current()!;
  }

  /** A closing server stops before the next pair; the pair in flight ends with the node's own session. */
  stop(): void {
    this.stopped = true;
  }

  private async runAll(
    view: NonNullable<RepairRun['view']>,
    authorization: string | undefined,
  ): Promise<void> {
    for (const pair of view.pairs) {
      if (this.stopped) break;
      pair.state = 'running';
      try {
        const answer = await forward(
          this.app,
          this.status(),
          this.client,
          pair.a,
          `/antientropy/run?peer=${encodeURIComponent(pair.b)}`,
          authorization,
        );
        const body = answer.body as { sessions?: SessionHistoryEntry[]; error?: { message?: string } } | null;
        if (answer.statusCode >= 400)
          throw new Error(body?.error?.message ?? `answered ${answer.statusCode}`);
        const entry = body?.sessions?.[0];
        pair.result = entry?.result ?? null;
        pair.keysRepaired = entry === undefined ? 0 : entry.keysPulled + entry.keysPushed;
        const ok = entry !== undefined && (entry.result === 'converged' || entry.result === 'repaired');
        pair.state = ok ? 'done' : 'failed';
        if (!ok) pair.error = entry?.error ?? 'no session was run';
      } catch (err) {
        pair.state = 'failed';
        pair.error = err instanceof Error ? err.message : errorText(err);
      }
    }
    view.endedAtMs = Date.now();
  }
}

export function registerRepairRun(app: FastifyInstance, run: RepairRun): void {
  app.post('/cluster/repair', async (req, reply) =>
    reply.code(202).send(run.start(req.headers.authorization)),
  );
  app.get('/cluster/repair', async () => ({ run: run.current() }));
  app.addHook('onClose', async () => run.stop());
}
