// An in-process cluster of real nodes on 127.0.0.1 (real lmdb, real HTTP between nodes): what `converge demo`
// runs, what the scenarios drive, and what the loopback tests and benchmarks start.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { ConvergeNode } from '../cluster/node.js';
import { type NodeConfig, type RawSettings, resolveConfig } from '../config/config.js';
import { ConvergeError } from '../core/errors.js';
import type { DemoControls, DemoState, MechanismName, WriteBurstResult } from '../server/dashboard/types.js';
import { type RunningNode, startNode } from '../server/server.js';

/** How long a burst waits for its copies to leave the coordinator's replication queues. */
const burstSettleWaitMsMax = 30_000;

/**
 * At `one` a write returns once the coordinator holds it, while its copies to the other replicas may still be
 * queued. The burst waits until they were sent or failed: a node isolated during the burst then misses every
 * one of them, and a heal right after it delivers none of them late.
 */
async function replicationSettled(node: ConvergeNode): Promise<void> {
  const deadline = Date.now() + burstSettleWaitMsMax;
  const pending = (): boolean => [...node.ctx.channels.values()].some((c) => c.pendingRecords > 0);
  while (pending() && Date.now() < deadline) await delay(5);
}

export interface LocalClusterOptions {
  readonly nodes: number;
  readonly basePort: number;
  /** Settings applied to every node (flag names: 'ae-interval', hints: false, ...). */
  readonly settings?: RawSettings;
  readonly dataRoot?: string;
  readonly scenario?: string | null;
  /** Shared secret for the nodes' internal traffic; none leaves it open. */
  readonly clusterSecret?: Buffer;
}

export class LocalCluster implements DemoControls {
  readonly configs: NodeConfig[];
  readonly running = new Map<string, RunningNode>();
  private readonly isolated = new Set<string>();
  private burstSeq = 0;
  private readonly ownsDataRoot: boolean;
  readonly dataRoot: string;

  constructor(private readonly options: LocalClusterOptions) {
    this.ownsDataRoot = options.dataRoot === undefined;
    this.dataRoot = options.dataRoot ?? mkdtempSync(join(tmpdir(), 'converge-demo-'));
    const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    // With a certificate in the settings every node serves HTTPS, and so is every peer URL.
    const scheme = typeof options.settings?.['tls-cert'] === 'string' ? 'https' : 'http';
    const peers = ids.map((id, i) => `${id}=${scheme}://127.0.0.1:${options.basePort + i + 1}`).join(',');
    try {
      this.configs = ids.map((id, i) =>
        resolveConfig(
          // The demo's terminal is its narration: structured logs only from warnings up, unless asked.
          { 'ae-interval': '2s', sync: 'group', 'leaf-bits': '16', 'log-level': 'warn' },
          options.settings ?? {},
          { id, listen: `127.0.0.1:${options.basePort + i + 1}`, data: join(this.dataRoot, id), peers },
        ),
      );
    } catch (err) {
      // A bad setting (`--ae-interval 5x`) must not leave the temporary folder behind.
      if (this.ownsDataRoot) rmSync(this.dataRoot, { recursive: true, force: true });
      throw err;
    }
  }

  async startAll(): Promise<void> {
    for (const c of this.configs) await this.start(c.id);
  }

  url(id: string): string {
    const c = this.config(id);
    return `${c.tls.certFile === null ? 'http' : 'https'}://${c.listen.host}:${c.listen.port}`;
  }

  node(id: string): RunningNode {
    const r = this.running.get(id);
    if (r === undefined) throw new ConvergeError('CONFLICT', `node ${id} is stopped`);
    return r;
  }

  state(): DemoState {
    return {
      isolated: [...this.isolated].sort(),
      stopped: this.configs.map((c) => c.id).filter((id) => !this.running.has(id)),
      scenario: this.options.scenario ?? null,
    };
  }

  async isolate(nodeId: string): Promise<void> {
    this.config(nodeId);
    this.isolated.add(nodeId);
    this.applyFaults();
  }

  async heal(): Promise<void> {
    this.isolated.clear();
    for (const r of this.running.values()) r.ctx.faults.healAll();
  }

  async stop(nodeId: string): Promise<void> {
    this.config(nodeId); // an unknown node is PEER_UNKNOWN (404), not "already stopped"
    const r = this.running.get(nodeId);
    if (r === undefined) throw new ConvergeError('CONFLICT', `node ${nodeId} is already stopped`);
    this.running.delete(nodeId);
    await r.stop();
  }

  async start(nodeId: string): Promise<void> {
    const config = this.config(nodeId);
    if (this.running.has(nodeId)) throw new ConvergeError('CONFLICT', `node ${nodeId} is already running`);
    const running = await startNode({
      config,
      demo: this,
      clusterSecret: this.options.clusterSecret,
    });
    this.running.set(nodeId, running);
    this.applyFaults();
  }

  /**
   * Starts a new node `id` (the next port) with --join through the first node: it becomes a member by a
   * membership change (the `join` scenario). It is then one of the cluster's nodes (stop, start, close).
   */
  async join(id: string): Promise<void> {
    if (this.configs.some((c) => c.id === id)) throw new ConvergeError('CONFLICT', `node ${id} exists`);
    const port = this.options.basePort + this.configs.length + 1;
    const config = resolveConfig(
      { 'ae-interval': '2s', sync: 'group', 'leaf-bits': '16', 'log-level': 'warn' },
      this.options.settings ?? {},
      { id, listen: `127.0.0.1:${port}`, data: join(this.dataRoot, id), join: this.url(this.configs[0]!.id) },
    );
    this.configs.push(config);
    await this.start(id);
  }

  async writeBurst(count: number, nodeId: string | undefined): Promise<WriteBurstResult> {
    const id =
      nodeId ?? [...this.running.keys()].find((k) => !this.isolated.has(k)) ?? [...this.running.keys()][0];
    if (id === undefined) throw new ConvergeError('CONFLICT', 'no node is running');
    const node = this.node(id).ctx.node;
    let written = 0;
    let failed = 0;
    const batch = 50;
    for (let i = 0; i < count; i += batch) {
      const results = await Promise.allSettled(
        Array.from({ length: Math.min(batch, count - i) }, () => {
          const seq = ++this.burstSeq;
          return node.put(
            `burst-${String(seq).padStart(6, '0')}`,
            new TextEncoder().encode(`value ${seq} via ${id}`),
            'one',
          );
        }),
      );
      for (const r of results) r.status === 'fulfilled' ? written++ : failed++;
    }
    await replicationSettled(node);
    return { written, failed };
  }

  async setMechanism(nodeId: string | undefined, mechanism: MechanismName, enabled: boolean): Promise<void> {
    for (const [id, r] of this.running) {
      if (nodeId !== undefined && id !== nodeId) continue;
      (r.ctx.node.ctx.mechanisms as { [k in MechanismName]: boolean })[mechanism] = enabled;
      const ae = r.ctx.antiEntropy;
      if (mechanism === 'antiEntropy') await (enabled ? ae?.resume() : ae?.pause());
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.stop()));
    this.running.clear();
    if (this.ownsDataRoot) rmSync(this.dataRoot, { recursive: true, force: true });
  }

  private config(id: string): NodeConfig {
    const c = this.configs.find((x) => x.id === id);
    if (c === undefined) throw new ConvergeError('PEER_UNKNOWN', `no node named ${id}`);
    return c;
  }

  /** Isolation is both ways: the isolated node blocks its peers and every peer blocks it. */
  private applyFaults(): void {
    for (const [id, r] of this.running) {
      r.ctx.faults.healAll();
      for (const c of this.configs) {
        if (c.id === id) continue;
        if (this.isolated.has(id) || this.isolated.has(c.id)) r.ctx.faults.block(c.id);
      }
    }
  }
}
