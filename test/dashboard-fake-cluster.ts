// A stand-in cluster for the dashboard's own tests and for looking at the page before the real node,
// anti-entropy and demo land: three fastify servers on port 0, each with the dashboard plugin, fed by an
// in-memory replica (a real DigestTree over real record fingerprints) and a scripted anti-entropy that
// merges two replicas over a few timer ticks so progress and ETA show. Not a model of the real protocol.

import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AntiEntropyStatus, SessionHistoryEntry, SessionProgress } from '../src/antientropy/types.js';
import { DigestTree } from '../src/core/digest.js';
import { ConvergeError } from '../src/core/errors.js';
import { tokenOf } from '../src/core/hash.js';
import { makeRecord, type VersionedRecord } from '../src/core/record.js';
import {
  type DemoControls,
  type DemoState,
  dashboardPlugin,
  type MechanismName,
} from '../src/server/dashboard/index.js';
import type { NodeStatus } from '../src/services/status.js';
import type { StorageHealth } from '../src/storage/guarded.js';

const encoder = new TextEncoder();
const sessionTicks = 6;
const sessionTickMs = 150;

class FakeNode {
  readonly records = new Map<string, VersionedRecord>();
  readonly digest = new DigestTree(12);
  readonly history: SessionHistoryEntry[] = [];
  running: { progress: SessionProgress; tick: number } | null = null;
  paused = false;
  pausedSinceMs: number | null = null;
  storage: StorageHealth | null = null;
  mechanisms = { hints: false, readRepair: true, antiEntropy: true };
  app: FastifyInstance | null = null;
  url = '';
  constructor(readonly id: string) {}

  apply(rec: VersionedRecord, key: string): boolean {
    const old = this.records.get(key);
    if (old !== undefined && old.version.ms >= rec.version.ms) return false;
    this.records.set(key, rec);
    this.digest.update(tokenOf(rec.key), old?.fp ?? null, rec.fp);
    return true;
  }
}

export class FakeCluster {
  readonly nodes: FakeNode[];
  readonly isolated = new Set<string>();
  readonly stopped = new Set<string>();
  private seq = 0;
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(ids: readonly string[] = ['n1', 'n2', 'n3']) {
    this.nodes = ids.map((id) => new FakeNode(id));
  }

  node(id: string): FakeNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new ConvergeError('PEER_UNKNOWN', `no node ${id}`);
    return n;
  }

  linked(a: string, b: string): boolean {
    return !this.isolated.has(a) && !this.isolated.has(b) && !this.stopped.has(a) && !this.stopped.has(b);
  }

  write(count: number, through: string | undefined): { written: number; failed: number } {
    const coordinator = this.node(
      through ?? this.nodes.find((n) => !this.stopped.has(n.id) && !this.isolated.has(n.id))!.id,
    );
    for (let i = 0; i < count; i++) {
      const key = `key-${++this.seq}`;
      const rec = makeRecord(
        encoder.encode(key),
        { ms: Date.now(), counter: i, node: coordinator.id },
        encoder.encode(`v${this.seq}`),
      );
      for (const n of this.nodes)
        if (n === coordinator || this.linked(coordinator.id, n.id)) n.apply(rec, key);
    }
    return { written: count, failed: 0 };
  }

  status(n: FakeNode): NodeStatus {
    return {
      id: n.id,
      keys: n.records.size,
      digest: { root: n.digest.rootHex(), leafBits: n.digest.leafBits, ready: true },
      peers: this.nodes
        .filter((p) => p !== n)
        .map((p) => ({
          id: p.id,
          url: p.url,
          reachable: this.linked(n.id, p.id),
          lastSeenAgeMs: 10,
          hintsPending: 0,
        })),
      mechanisms: n.mechanisms,
      hints: { pending: 0, bytes: 0 },
      // Empty, as a node still starting reports it: the fake's dashboard reads /antientropy instead.
      antiEntropy: {} as NodeStatus['antiEntropy'],
      storage: n.storage,
    };
  }

  antiEntropy(n: FakeNode): AntiEntropyStatus {
    const last = n.history[0] ?? null;
    return {
      enabled: n.mechanisms.antiEntropy,
      paused: n.paused,
      pausedSinceMs: n.paused ? n.pausedSinceMs : null,
      intervalMs: 30_000,
      throttle: { recordsPerSecondMax: 5_000, bytesPerSecondMax: 4_000_000 },
      peers: this.nodes
        .filter((p) => p !== n)
        .map((p) => ({
          peer: p.id,
          running: n.running?.progress.peer === p.id ? n.running.progress : null,
          last: n.history.find((e) => e.peer === p.id) ?? null,
          lastSuccessStartedAtMs: last?.startedAtMs ?? null,
          lastSuccessAgeSeconds: null,
          nextAtMs: n.paused ? null : Date.now() + 30_000,
        })),
      history: n.history.slice(0, 50),
      watermark: {
        localMs: last?.startedAtMs ?? null,
        clusterMs: null,
        purgeBeforeMs: null,
        tombstonesPurged: 0,
      },
      verification: { running: false, passes: 0, mismatches: 0, lastPassEndedAtMs: null, nextPassAtMs: null },
    };
  }

  /** Starts one scripted session from `n` with each linked peer in turn. */
  runSessions(n: FakeNode): void {
    const peers = this.nodes.filter((p) => p !== n && this.linked(n.id, p.id));
    const next = (i: number) => {
      const peer = peers[i];
      if (peer === undefined) return;
      this.session(n, peer, () => next(i + 1));
    };
    if (n.running === null) next(0);
  }

  private session(n: FakeNode, peer: FakeNode, done: () => void): void {
    const startedAtMs = Date.now();
    const base = {
      keysCompared: 0,
      keysDivergent: 0,
      keysPulled: 0,
      keysPushed: 0,
      bytesSent: 0,
      bytesReceived: 0,
      roundTrips: 0,
    };
    const id = `s${++this.seq}`;
    n.running = {
      tick: 0,
      progress: {
        ...base,
        id,
        peer: peer.id,
        range: 'all',
        initiator: n.id,
        startedAtMs,
        fraction: 0,
        etaMs: null,
        phase: 'discovering',
        resumed: false,
      },
    };
    const step = () => {
      const r = n.running!;
      r.tick++;
      const fraction = r.tick / sessionTicks;
      r.progress = {
        ...r.progress,
        fraction,
        roundTrips: r.tick,
        etaMs: (sessionTicks - r.tick) * sessionTickMs,
        phase: r.tick > sessionTicks / 2 ? 'repairing' : 'discovering',
      };
      if (r.tick < sessionTicks) return this.later(step, sessionTickMs);
      const counts = this.merge(n, peer);
      const entry: SessionHistoryEntry = {
        ...base,
        ...counts,
        id,
        peer: peer.id,
        range: 'all',
        initiator: n.id,
        startedAtMs,
        endedAtMs: Date.now(),
        durationMs: Date.now() - startedAtMs,
        result: counts.keysDivergent === 0 ? 'converged' : 'repaired',
        error: null,
        resumed: false,
        roundTrips: sessionTicks,
      };
      n.history.unshift(entry);
      n.running = null;
      done();
    };
    this.later(step, sessionTickMs);
  }

  private merge(
    a: FakeNode,
    b: FakeNode,
  ): { keysDivergent: number; keysPulled: number; keysPushed: number; keysCompared: number } {
    let pulled = 0;
    let pushed = 0;
    for (const [k, rec] of b.records) if (a.apply(rec, k)) pulled++;
    for (const [k, rec] of a.records) if (b.apply(rec, k)) pushed++;
    return {
      keysDivergent: pulled + pushed,
      keysPulled: pulled,
      keysPushed: pushed,
      keysCompared: a.records.size,
    };
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  demoControls(): DemoControls {
    const state = (): DemoState => ({
      isolated: [...this.isolated],
      stopped: [...this.stopped],
      scenario: null,
    });
    return {
      state,
      isolate: async (id) => void this.isolated.add(this.node(id).id),
      heal: async () => this.isolated.clear(),
      stop: async (id) => void this.stopped.add(this.node(id).id),
      start: async (id) => void this.stopped.delete(this.node(id).id),
      writeBurst: async (count, id) => this.write(count, id),
      setMechanism: async (id, m: MechanismName, on) => {
        for (const n of id === undefined ? this.nodes : [this.node(id)])
          n.mechanisms = { ...n.mechanisms, [m]: on };
      },
    };
  }

  async start(demo: boolean): Promise<void> {
    const controls = demo ? this.demoControls() : undefined;
    for (const n of this.nodes) {
      const app = Fastify();
      // Like the node's server (src/server/http.ts): no body parsing, every body arrives as raw bytes.
      app.removeAllContentTypeParsers();
      app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      app.get('/status', async () => this.guard(n, () => this.status(n)));
      app.get('/antientropy', async () => this.guard(n, () => this.antiEntropy(n)));
      app.post('/antientropy/:action', async (req) =>
        this.guard(n, () => this.aeAction(n, (req.params as { action: string }).action)),
      );
      await app.register(dashboardPlugin, {
        status: () => this.status(n),
        // Outside demo mode the plugin is left to read anti-entropy from the node's own route.
        antiEntropy: demo ? () => this.antiEntropy(n) : undefined,
        digest: () => n.digest,
        demo: controls,
        peerTimeoutMs: 500,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      n.app = app;
      n.url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    }
  }

  /** Like a real node, `POST /antientropy/run` can answer only when its sessions end; tests set this. */
  runAnswerDelayMs = 0;
  /** Delayed answers still open; close() releases them so no server waits on a cleared timer. */
  private readonly answersPending = new Set<() => void>();

  private async aeAction(n: FakeNode, action: string): Promise<{ ok: true }> {
    if (action === 'run') {
      this.runSessions(n);
      if (this.runAnswerDelayMs > 0) {
        await new Promise<void>((resolve) => {
          this.answersPending.add(resolve);
          this.later(resolve, this.runAnswerDelayMs);
        });
      }
    } else if (action === 'pause' || action === 'resume') n.paused = action === 'pause';
    else throw new ConvergeError('NOT_FOUND', `no action ${action}`);
    return { ok: true };
  }

  /** A stopped fake node answers 503 instead of closing its socket, which is enough for the page. */
  private guard<T>(n: FakeNode, fn: () => T): T {
    if (this.stopped.has(n.id)) throw new ConvergeError('UNAVAILABLE', `${n.id} is stopped`);
    return fn();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const release of this.answersPending) release();
    for (const n of this.nodes) await n.app?.close();
  }
}
