// The simulated cluster: real converge nodes (replica, coordinator, hints, read repair, anti-entropy with its
// sessions and tombstone GC) wired to a virtual clock per node (with skew), the simulated network and one
// in-memory disk per node that outlives its processes. A crash ends an incarnation: its timers, messages and
// disk writes stop; what the disk loses is what the durability model says was not durable yet. A disk can
// also fill up: its commits then fail (DISK_FULL) until the nemesis frees it, while the node keeps running.

import { Registry } from 'prom-client';
import type { AntiEntropyProcess } from '../antientropy/process.js';
import { registerJoinRoute } from '../cluster/membership-api.js';
import type { MembershipService } from '../cluster/membership-service.js';
import type { ConvergeNode } from '../cluster/node.js';
import { ConvergeError } from '../core/errors.js';
import type { Clock } from '../core/hlc.js';
import { versionToString } from '../core/hlc.js';
import { type Random, seededRandom } from '../core/random.js';
import { repairResponderLimitsDefault } from '../core/reconcile-driver.js';
import type { VersionedRecord } from '../core/record.js';
import { Topology } from '../core/topology.js';
import { LiveTopology } from '../core/topology-describe.js';
import type { LocalReplica } from '../replica/replica.js';
import type { ApplySource } from '../replica/types.js';
import { createNodeServices, type NodeServicesSettings, type NodeWorld } from '../services/node-services.js';
import { GuardedStorage } from '../storage/guarded.js';
import { MemoryStorage } from '../storage/memory.js';
import type { Storage, StorageEntry, WriteOp } from '../storage/storage.js';
import type { SimConfig } from './config.js';
import { SimNetwork } from './network.js';
import { makeReplica, maxClockDriftMsFor, plantKeepOldCopies, plantPurgeEarly } from './planted-bugs.js';
import type { Owner, Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';
import { simWorker } from './worker.js';

/**
 * What a write to a full simulated disk fails with (a session failing on it failed on the world, not a bug).
 */
export const simDiskFullMessage = 'the simulated disk is full';

/** The digest's leaf bits in a history: a few hundred keys need no finer tree. */
export const simLeafBits = 8;

/** Virtual time zero, as wall-clock milliseconds (2026-01-01), so versions look like real ones. */
export const epochMs = 1_767_225_600_000;

export interface CreatedRecord {
  readonly key: string;
  readonly tombstone: boolean;
  readonly value: string | null;
  /** The true time (no clock offset) when the coordinator stamped it. */
  readonly createdAtMs: number;
}

export class SimNode {
  readonly disk: MemoryStorage;
  offsetMs = 0;
  /** The clock ran away beyond the drift bound at some point: the heal runs the operator's procedure. */
  clockRanAway = false;
  /** The operator fixed this node's clock while it was not running: remove what it stamped ahead at start. */
  dropAheadAtStart = false;
  slowDisk = false;
  /** Every commit fails (DISK_FULL) while set; the node stays up. */
  diskFull = false;
  incarnations = 0;
  owner: Owner | null = null;
  node: ConvergeNode | null = null;
  replica: LocalReplica | null = null;
  ae: AntiEntropyProcess | null = null;
  membership: MembershipService | null = null;
  /**
   * A node started to join (or to replace `replace`): every incarnation first asks a member to make it one,
   * as `serve --join` does, until the change that added it has finished.
   */
  joinRequest: { readonly replace: string | null } | null = null;

  constructor(
    readonly id: string,
    world: World,
  ) {
    const diskOwner: Owner = { name: `${id}/disk`, alive: true };
    this.disk = new MemoryStorage({
      sync: world.config.sync,
      writeDelay: () => world.scheduler.sleep(diskOwner, world.diskDelayMs(this)),
    });
  }

  /** Running and serving (a joiner still asking a member to make it one is not up yet). */
  get up(): boolean {
    return this.owner?.alive === true && this.node !== null;
  }
}

/** The address a simulated member has in the membership's address book (the network routes by id). */
export function simUrlOf(id: string): string {
  return `http://${id}.sim`;
}

export class World {
  readonly network: SimNetwork;
  /** The members the workload, the nemesis and the checker see (a joiner once it runs, none retired). */
  readonly nodes: SimNode[];
  /** Nodes gone for good: decommissioned once the change finished, or dead and replaced. */
  readonly retired: SimNode[] = [];
  /** Members that died for good (and were replaced): what only they held is lost, as it would be. */
  readonly deadForGood = new Set<string>();
  /** Members that left the ring (decommissioned) still holding records when the change finished. */
  readonly leftHolding: string[] = [];
  /** Every record a client write created, by version: the checker's ground truth. */
  readonly created = new Map<string, CreatedRecord>();
  /** How many times the checker has sampled the running history. */
  samples = 0;
  /** The session the checker last saw running, by incarnation and peer, and since when. */
  readonly sessionsSeen = new Map<string, { id: string; sinceMs: number }>();
  /**
   * Sessions that had begun (or ended) when the replicas first converged after the heal, by id; null before.
   * No write or fault comes after that point.
   */
  sessionsBeforeConvergence: Set<string> | null = null;
  /** Each node's `key → version` when the replicas converged (see checkNoPhantomDivergence). */
  versionsAtConvergence: Array<Map<string, string>> | null = null;

  /** Notes every session begun so far, on every node. */
  noteSessionsSoFar(): void {
    const ids = new Set<string>();
    for (const n of this.nodes) {
      if (!n.up) continue;
      const status = n.ae!.status();
      for (const e of n.ae!.state.history) ids.add(e.id);
      for (const p of status.peers) {
        if (p.running !== null) ids.add(p.running.id);
        // A session interrupted before convergence resumes later under the same id, from its checkpoint.
        const cp = n.ae!.state.checkpoint(p.peer);
        if (cp !== undefined) ids.add(cp.id);
      }
    }
    this.sessionsBeforeConvergence = ids;
    this.versionsAtConvergence = this.recordVersions();
  }

  /** Every node's records as `key → version` (tombstones included), to tell later writes from purges. */
  recordVersions(): Array<Map<string, string>> {
    const all = { start: new Uint8Array(0), end: new Uint8Array(9).fill(255) };
    return this.nodes.map((n) => {
      const versions = new Map<string, string>();
      if (n.replica === null) return versions;
      for (const { record } of n.replica.scanTokens(all.start, all.end)) {
        versions.set(this.decoder.decode(record.key), versionToString(record.version));
      }
      return versions;
    });
  }
  private readonly decoder = new TextDecoder();

  /** The ring every node runs with (the same parameters on every member, so one object serves all). */
  readonly topology: LiveTopology;

  /**
   * The ring the checker compares replicas by: the fixed one, or with membership the routing view (each
   * partition's write set) of the latest state a running member has installed.
   */
  ring(): Topology {
    const latest = this.latestMembership();
    return latest === null ? this.topology.current : latest.live.current;
  }

  /** The running member's membership with the highest installed epoch (null without membership). */
  latestMembership(): MembershipService | null {
    let best: MembershipService | null = null;
    for (const n of this.nodes) {
      const m = n.up ? n.membership : null;
      if (m !== null && (best === null || m.current().epoch > best.current().epoch)) best = m;
    }
    return best;
  }

  constructor(
    readonly config: SimConfig,
    readonly scheduler: Scheduler,
    readonly random: Random & { int(maxExclusive: number): number },
    readonly trace: Trace,
  ) {
    this.network = new SimNetwork(scheduler, seededRandom(random.int(2 ** 32)));
    this.nodes = Array.from({ length: config.nodes }, (_, i) => new SimNode(`n${i + 1}`, this));
    this.topology = new LiveTopology(
      Topology.create({
        members: this.nodes.map((n) => n.id),
        partitions: config.partitions,
        replicationFactor: config.replicationFactor,
        leafBits: simLeafBits,
      }),
    );
  }

  diskDelayMs(node: SimNode): number {
    const base = 0.2 + this.random.next() * 4;
    return node.slowDisk ? base + this.random.next() * this.config.slowDiskMsMax : base;
  }

  clockOf(node: SimNode): Clock {
    return { now: () => Math.floor(epochMs + this.scheduler.nowMs + node.offsetMs) };
  }

  /** The node's storage on its disk, as one incarnation sees it (a dead one can no longer write). */
  private openStorage(node: SimNode, owner: Owner, clock: Clock): Storage {
    return new GuardedStorage(new IncarnationStorage(node.disk, owner, () => node.diskFull), {
      now: clock.now,
      // Virtual time never jumps, whatever the node's clock offset does.
      monotonicNow: () => this.scheduler.nowMs,
      retryMs: this.config.storageRetryMs,
    });
  }

  /** The simulator's world for one incarnation: virtual clock (with the node's offset), timers and network. */
  private worldOf(node: SimNode, owner: Owner, header: () => string | undefined): NodeWorld {
    const { config, scheduler } = this;
    const clock = this.clockOf(node);
    return {
      clock,
      random: () => seededRandom(this.random.int(2 ** 32)),
      timers: scheduler.timers(owner),
      // Virtual time without the node's offset: what its wall clock should read, and what times rounds.
      monotonicNow: () => scheduler.nowMs,
      transport: this.network.transport(node.id, owner, header),
      openStorage: () => this.openStorage(node, owner, clock),
      registry: new Registry(),
      makeReplica: (options) => {
        const replica = makeReplica(config.plantedBug, options);
        this.observeClientWrites(replica);
        return replica;
      },
      yieldNow: () => scheduler.sleep(owner, 0),
      ...(config.aeWorker
        ? {
            repairWorker: (replica: LocalReplica) =>
              simWorker(
                replica.storage,
                replica.shareWriteEpochs(),
                () => scheduler.sleep(owner, this.random.next() * 20),
                repairResponderLimitsDefault.fetchResponseBytesMax,
              ),
          }
        : {}),
    };
  }

  /** What every simulated node runs with: small digests, short timeouts, anti-entropy always on. */
  private settingsOf(node: SimNode, seed: Uint8Array | undefined): NodeServicesSettings {
    const { config } = this;
    // The configured members (the first `config.nodes`): what `--peers` says on every node, joiners too.
    const configured = Array.from({ length: config.nodes }, (_, i) => `n${i + 1}`);
    return {
      id: node.id,
      peers: configured.map((id) => ({ id, url: simUrlOf(id) })),
      ...(config.membershipChange === null
        ? {}
        : {
            membership: {
              addresses: new Map(configured.map((id) => [id, simUrlOf(id)])),
              selfUrl: simUrlOf(node.id),
              ...(seed === undefined ? {} : { seed }),
              driver: {
                cleanupGraceMs: config.cleanupGraceMs,
                tickMs: config.tickMs,
                streamTimeoutMs: config.sessionMsMax,
                requestTimeoutMs: config.aeRequestTimeoutMs,
              },
            },
          }),
      // The same ring as the checker's (World.topology).
      ring: { partitions: config.partitions, replicationFactor: config.replicationFactor },
      // Small like the digest: histories hold a few hundred keys, and the symbol path still runs.
      replica: {
        leafBits: simLeafBits,
        symbolsMax: 1024,
        partitionBits: Math.log2(config.partitions),
        // 64 symbols for each partition (the least kept), whatever P the history runs with.
        partitionSymbolsBudget: 64 * config.partitions,
        rebuildSliceRecords: 128,
        maxClockDriftMs: config.maxClockDriftMs,
      },
      node: {
        mechanisms: { ...config.mechanisms, antiEntropy: true },
        hintLimits: config.hintLimits,
        limits: { requestTimeoutMs: config.requestTimeoutMs },
        tickMs: config.tickMs,
        maxClockDriftMs: maxClockDriftMsFor(config.plantedBug, config.maxClockDriftMs),
      },
      antiEntropy: {
        intervalMs: config.aeIntervalMs,
        enabled: true,
        tombstoneGraceMs: config.tombstoneGraceMs,
        limits: { entriesMax: 32, requestTimeoutMs: config.aeRequestTimeoutMs },
        verifyPassIntervalMs: config.aeIntervalMs * 4,
        verifyRecordsPerSecondMax: 2000,
        verifyStartDelayMs: config.aeIntervalMs,
      },
    };
  }

  /** Starts a new incarnation of `node` on its disk (a joiner's first asks a member to make it one). */
  boot(node: SimNode): void {
    // A joiner still asking to join is restarted: the process asking dies first.
    if (node.owner !== null) node.owner.alive = false;
    const owner: Owner = { name: `${node.id}#${node.incarnations}`, alive: true };
    node.incarnations += 1;
    node.owner = owner;
    if (node.joinRequest === null) this.start(node, owner, undefined);
    else void this.joinThenStart(node, owner, node.joinRequest.replace);
  }

  /** `serve --join` (and `--replace DEAD`): asks a running member until one answers the record. */
  private async joinThenStart(node: SimNode, owner: Owner, replace: string | null): Promise<void> {
    const transport = this.network.transport(node.id, owner);
    const body = new TextEncoder().encode(JSON.stringify({ id: node.id, url: simUrlOf(node.id), replace }));
    while (owner.alive) {
      const up = this.nodes.filter((n) => n.up && n !== node);
      const via = up[this.random.int(Math.max(1, up.length))];
      if (via !== undefined) {
        try {
          const seed = await transport.call(via.id, {
            route: 'membership/join',
            body,
            timeoutMs: this.config.requestTimeoutMs * 4,
          });
          if (!owner.alive) return;
          this.trace.log(
            `${node.id} joined through ${via.id}${replace === null ? '' : `, replacing ${replace}`}`,
          );
          this.start(node, owner, seed);
          return;
        } catch (err) {
          this.trace.log(`${node.id}: join through ${via.id} failed: ${String(err)}`);
        }
      }
      await this.scheduler.sleep(owner, 1000);
    }
  }

  private start(node: SimNode, owner: Owner, seed: Uint8Array | undefined): void {
    let membership: MembershipService | undefined;
    const world = this.worldOf(node, owner, () => membership?.header());
    const services = createNodeServices(world, this.settingsOf(node, seed));
    membership = services.membership;
    const { node: converge, replica, antiEntropy: ae } = services;
    if (this.config.plantedBug === 'purge-early')
      plantPurgeEarly(ae, world.clock, this.config.tombstoneGraceMs);
    if (membership !== undefined) {
      registerJoinRoute(converge, membership);
      if (this.config.plantedBug === 'keep-old-copies') plantKeepOldCopies(converge);
    }
    this.network.register(node.id, owner, (route, body, from, header) =>
      converge.handleInternal(route, body, from, header),
    );
    Object.assign(node, { owner, node: converge, replica, ae, membership: membership ?? null });
    if (!this.nodes.includes(node)) this.nodes.push(node);
    services.start();
    if (node.dropAheadAtStart) {
      node.dropAheadAtStart = false;
      this.dropAhead(node);
    }
  }

  /** The operator's removal of what a node whose clock ran away stamped ahead (the node must be running). */
  dropAhead(node: SimNode): void {
    void node.node!.dropAhead(this.config.maxClockDriftMs, 1_000_000).then(
      (r) => this.trace.log(`operator: removed ${r.dropped} record(s) ${node.id} held stamped ahead`),
      (err: unknown) =>
        this.trace.log(`operator: removing records stamped ahead on ${node.id} failed: ${String(err)}`),
    );
  }

  /** Kills the running incarnation: a process crash, or a power loss that also drops un-fsynced writes. */
  crash(node: SimNode, kind: 'process' | 'power'): void {
    if (node.owner === null) return;
    node.owner.alive = false;
    this.network.unregister(node.id);
    if (kind === 'power') node.disk.powerLoss();
    else node.disk.crash();
    Object.assign(node, { owner: null, node: null, replica: null, ae: null, membership: null });
  }

  /** Records what each client write created, so the checker knows every version that ever existed. */
  private observeClientWrites(replica: LocalReplica): void {
    const apply = replica.apply.bind(replica);
    replica.apply = (records: readonly VersionedRecord[], source: ApplySource) => {
      // With RF < N a coordinator may hold no replica of the key: its write first lands on a replica as
      // replication (or a hint), a network delay after it was stamped.
      if (source === 'client' || source === 'replication' || source === 'hint') {
        for (const r of records) {
          if (source !== 'client' && this.created.has(versionToString(r.version))) continue;
          this.created.set(versionToString(r.version), {
            key: this.decoder.decode(r.key),
            tombstone: r.tombstone,
            value: r.tombstone ? null : this.decoder.decode(r.value),
            createdAtMs: epochMs + this.scheduler.nowMs,
          });
        }
      }
      return apply(records, source);
    };
  }
}

/** One incarnation's handle on its node's disk: once the process is dead, it writes nothing more. */
class IncarnationStorage implements Storage {
  readonly engine = 'memory';

  constructor(
    private readonly disk: MemoryStorage,
    private readonly owner: Owner,
    private readonly full: () => boolean,
  ) {}

  get sync() {
    return this.disk.sync;
  }

  /** The simulator's repair worker reads the disk directly, in its own virtual thread (sim/worker.ts). */
  readerSpec(): null {
    return null;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.disk.get(key);
  }

  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry> {
    return this.disk.scan(start, end, limit);
  }

  write(ops: readonly WriteOp[]): Promise<void> {
    if (!this.owner.alive) return Promise.reject(new ConvergeError('STORAGE_FAILED', 'the process is dead'));
    if (this.full()) return Promise.reject(new ConvergeError('DISK_FULL', simDiskFullMessage));
    return this.disk.write(ops);
  }

  async close(): Promise<void> {}
}
