// The composition root: the one place a node's object graph is built (storage → replica → node → anti-entropy
// with its repair worker, and the status that joins them). The server, the CLI, the benches and the
// simulator call it with their own world (real or virtual clock, timers, transport, storage) and settings;
// none of them wires the parts together itself, and no part is swapped in after the graph is built.

import type { Registry } from 'prom-client';
import type { LoadProbe } from '../antientropy/adaptive.js';
import {
  type AntiEntropyOptions,
  type AntiEntropyProcess,
  createAntiEntropy,
} from '../antientropy/process.js';
import type { RepairWorkerHandle } from '../antientropy/repair-worker.js';
import { decodeJson, encodeJson } from '../cluster/codec.js';
import { MembershipDiscards } from '../cluster/membership-discards.js';
import {
  createMembershipDriver,
  type MembershipDriverSettings,
  memberCallOf,
  membershipDriverDefaults,
} from '../cluster/membership-driver-loop.js';
import { membershipRoutes, registerMembershipRoutes } from '../cluster/membership-routes.js';
import { MembershipService } from '../cluster/membership-service.js';
import { type ConvergeNode, createNode, type NodeOptions } from '../cluster/node.js';
import { nodeLimitsDefault } from '../cluster/node-context.js';
import type { PeerConfig } from '../cluster/node-types.js';
import type { Transport } from '../cluster/transport.js';
import { leafBitsDefault } from '../core/digest.js';
import { logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import { createMembership, type MembershipState } from '../core/membership.js';
import type { Random } from '../core/random.js';
import type { Timers } from '../core/timers.js';
import { partitionsDefault, replicationFactorDefault, Topology } from '../core/topology.js';
import { LiveTopology } from '../core/topology-describe.js';
import { LocalReplica, type ReplicaOptions } from '../replica/replica.js';
import type { Storage } from '../storage/storage.js';
import type { NodeStatus } from './status.js';

/** What the node runs on: real in the server, virtual in the simulator. */
export interface NodeWorld {
  readonly clock: Clock;
  /** A fresh source of randomness per part (the simulator seeds each from its own seed, in this order). */
  readonly random: () => Random;
  readonly timers: Timers;
  /** A clock that never jumps: the clock check's and the anti-entropy round timing's. */
  readonly monotonicNow: () => number;
  readonly transport: Transport;
  /** Opens this node's storage (an engine behind the storage guard). */
  readonly openStorage: () => Storage;
  readonly registry: Registry;
  /** The node's load, for the adaptive repair rate; none in the simulator. */
  readonly loadProbe?: LoadProbe;
  /** Starts the repair worker for the replica, or undefined to do repair's bulk work on the event loop. */
  readonly repairWorker?: (replica: LocalReplica) => RepairWorkerHandle | undefined;
  /** Builds the replica (the simulator plants bugs and watches client writes here). */
  readonly makeReplica?: (options: ReplicaOptions) => LocalReplica;
  /** Lets the event loop run between digest rebuild slices. */
  readonly yieldNow?: () => Promise<void>;
  /** One line for the node's log (refused records). */
  readonly warn?: (line: string) => void;
  /** Defers sending accumulated replication records. */
  readonly defer?: (fn: () => void) => void;
}

/** The world's parts each component takes from `NodeWorld`, not from settings. */
type FromWorld =
  | 'id'
  | 'peers'
  | 'replica'
  | 'transport'
  | 'clock'
  | 'random'
  | 'timers'
  | 'registry'
  | 'topology';

/** What the node is told to be: its id, its peers and each part's settings. */
export interface NodeServicesSettings {
  readonly id: string;
  /** Every member but this node (this node's own entry, if listed, is left out). */
  readonly peers: readonly PeerConfig[];
  /** The ring's shape, the same on every member (defaults: 256 partitions, replication factor 3). */
  readonly ring?: { readonly partitions: number; readonly replicationFactor: number };
  readonly replica: Omit<ReplicaOptions, 'id' | 'storage' | 'clock' | 'yieldNow'>;
  readonly node: Omit<NodeOptions, FromWorld | 'monotonicNow' | 'warn' | 'defer'>;
  readonly antiEntropy: Omit<
    AntiEntropyOptions,
    FromWorld | 'node' | 'busyNow' | 'loadProbe' | 'repairWorker'
  >;
  /**
   * Membership changes (membership-service.ts): the state is stored, spread and followed by the node and
   * anti-entropy. Absent (the simulator): the ring is fixed at construction.
   */
  readonly membership?: {
    /** The transport's address book (id → URL), which the service keeps up to date. */
    readonly addresses: Map<string, string>;
    /** This node's own base URL, for the address book. */
    readonly selfUrl?: string;
    /** The record a member answered `serve --join` with. */
    readonly seed?: Uint8Array;
    /** The driver loop's settings (cleanup grace, streaming concurrency, tick). */
    readonly driver?: Partial<MembershipDriverSettings>;
  };
}

export interface NodeServices {
  readonly storage: Storage;
  readonly replica: LocalReplica;
  /** Who holds what: the members, the partitions and each partition's replicas. */
  readonly topology: LiveTopology;
  readonly node: ConvergeNode;
  readonly antiEntropy: AntiEntropyProcess;
  readonly repairWorker: RepairWorkerHandle | undefined;
  /** The membership state and its spreading; undefined without `settings.membership`. */
  readonly membership: MembershipService | undefined;
  /** /status: the node's own status and anti-entropy's, side by side. */
  status(): NodeStatus;
  /** Starts the node's tick, then anti-entropy's loops (stopped by close() or the signal). */
  start(signal?: AbortSignal): void;
  /** Stops anti-entropy, the repair worker and the node, then closes the storage. */
  close(): Promise<void>;
}

export function createNodeServices(world: NodeWorld, settings: NodeServicesSettings): NodeServices {
  const storage = world.openStorage();
  const replica = replicaOf(world, settings, storage);
  const peers = settings.peers.filter((p) => p.id !== settings.id);
  // The ring is built here, once, and both the node and anti-entropy read who holds what from it: with a
  // membership, its routing view (each partition's write set), advanced on every install.
  const membership = membershipOf(world, settings, replica, ringOf(settings, peers).current);
  const topology = membership?.live ?? ringOf(settings, peers);
  const node = createNode({
    ...(membership === undefined ? {} : { membership }),
    ...settings.node,
    id: settings.id,
    peers,
    replica,
    transport: world.transport,
    clock: world.clock,
    random: world.random(),
    timers: world.timers,
    registry: world.registry,
    monotonicNow: world.monotonicNow,
    topology,
    ...(world.warn === undefined ? {} : { warn: world.warn }),
    ...(world.defer === undefined ? {} : { defer: world.defer }),
  });
  membership?.registerRoutes(node);
  // Stored before the storage may close (a node stopped at once must not fail the write).
  const stored = membership?.persistInitial().catch(logFailure('membership store'));
  const driver = driverOf(world, settings, node, membership);
  const worker = settings.antiEntropy.enabled ? world.repairWorker?.(replica) : undefined;
  const antiEntropy = antiEntropyOf(world, settings, { node, replica, topology, worker, membership });
  registerMemberRoutes(world, node, antiEntropy);
  return {
    storage,
    replica,
    topology,
    node,
    antiEntropy,
    repairWorker: worker,
    membership,
    status: () => ({ ...node.status(), antiEntropy: antiEntropy.status() }),
    start(signal) {
      node.start();
      antiEntropy.start(signal);
      driver?.start();
    },
    async close() {
      await driver?.stop().catch(logFailure('shutdown step'));
      await antiEntropy.stop().catch(logFailure('shutdown step'));
      await worker?.close?.().catch(logFailure('shutdown step'));
      await node.close();
      await stored;
      await storage.close();
    },
  };
}

function replicaOf(world: NodeWorld, settings: NodeServicesSettings, storage: Storage): LocalReplica {
  const replica = (world.makeReplica ?? ((o: ReplicaOptions) => new LocalReplica(o)))({
    // Symbols per partition follow the ring's partitions (a scoped session sums those it covers).
    partitionBits: Math.log2(settings.ring?.partitions ?? partitionsDefault),
    ...settings.replica,
    id: settings.id,
    storage,
    clock: world.clock,
    ...(world.yieldNow === undefined ? {} : { yieldNow: world.yieldNow }),
  });
  void replica.rebuild().catch(logFailure('digest rebuild'));
  return replica;
}

function membershipOf(
  world: NodeWorld,
  settings: NodeServicesSettings,
  replica: LocalReplica,
  ring: Topology,
): MembershipService | undefined {
  const m = settings.membership;
  if (m === undefined) return undefined;
  const service = new MembershipService({
    self: settings.id,
    ...(m.selfUrl === undefined ? {} : { selfUrl: m.selfUrl }),
    meta: replica,
    transport: world.transport,
    addresses: m.addresses,
    initial: createMembership(ring),
    ...(m.seed === undefined ? {} : { seed: m.seed }),
    clock: world.clock,
    requestTimeoutMs: settings.node.limits?.requestTimeoutMs ?? nodeLimitsDefault.requestTimeoutMs,
    ...(world.warn === undefined ? {} : { warn: world.warn }),
  });
  return service;
}

/** Anti-entropy over the node's replica and ring, with the repair worker when there is one. */
function antiEntropyOf(
  world: NodeWorld,
  settings: NodeServicesSettings,
  parts: {
    node: ConvergeNode;
    replica: LocalReplica;
    topology: LiveTopology;
    worker: RepairWorkerHandle | undefined;
    membership: MembershipService | undefined;
  },
): AntiEntropyProcess {
  const { node, replica, topology, worker, membership } = parts;
  return createAntiEntropy({
    ...settings.antiEntropy,
    ...(worker === undefined ? {} : { repairWorker: worker }),
    node,
    replica,
    transport: world.transport,
    peers: settings.peers.filter((p) => p.id !== settings.id).map((p) => p.id),
    topology,
    clock: world.clock,
    busyNow: world.monotonicNow,
    random: world.random(),
    timers: world.timers,
    registry: world.registry,
    ...(world.loadProbe === undefined ? {} : { loadProbe: world.loadProbe }),
    // A joiner is in the membership before the ring gives it anything: the sources admit its streaming.
    ...(membership === undefined
      ? {}
      : {
          admitsStreaming: (peer: string) => membership.current().members.some((m) => m.id === peer),
          // Its pending partitions are filled by the streaming sessions alone (src/antientropy/ring.ts).
          streamedTo: (member: string) => pendingTo(membership.current(), member),
        }),
  });
}

/** The partitions a membership change still streams to `member` (pending, and `member` a new owner). */
function pendingTo(state: MembershipState, member: string): ReadonlySet<number> {
  const out = new Set<number>();
  for (const m of state.change?.moves ?? [])
    if (m.state === 'pending' && m.to.includes(member) && !m.from.includes(member)) out.add(m.partition);
  return out;
}

/**
 * The loop that drives a change this node began (streaming, verifying, moving, cleanup), idle otherwise; and
 * this node's durable list of partial copies to discard after a change ended without giving it them.
 */
function driverOf(
  world: NodeWorld,
  settings: NodeServicesSettings,
  node: ConvergeNode,
  membership: MembershipService | undefined,
): { start(): void; stop(): Promise<void> } | undefined {
  if (membership === undefined) return undefined;
  const chosen = { ...membershipDriverDefaults, ...settings.membership?.driver };
  const driver = createMembershipDriver(membership, {
    call: memberCallOf(node, world.transport),
    clock: world.clock,
    timers: world.timers,
    settings: chosen,
  });
  membership.driverView = driver.view;
  const discards = new MembershipDiscards({
    self: settings.id,
    meta: node.ctx.replica,
    clock: world.clock,
    timers: world.timers,
    graceMs: chosen.cleanupGraceMs,
    current: () => membership.current(),
    drop: async (partitions, reason, epoch) => {
      const body = encodeJson({ partitions, reason, epoch });
      const answer = decodeJson(await node.handleInternal(membershipRoutes.drop, body, node.id));
      return (answer as { dropped: number }).dropped;
    },
  });
  membership.beforeStore = (before, after) => discards.changeEnding(before, after);
  return {
    start() {
      driver.start();
      discards.start();
    },
    async stop() {
      await driver.stop();
      await discards.stop();
    },
  };
}

/** A member's side of membership changes (streaming, digests, drops): the driver loop calls these routes. */
function registerMemberRoutes(world: NodeWorld, node: ConvergeNode, antiEntropy: AntiEntropyProcess): void {
  registerMembershipRoutes({
    router: node,
    replica: node.ctx.replica,
    antiEntropy,
    hints: node.ctx.hints,
    topology: antiEntropy.topology,
    registry: world.registry,
    yieldNow: world.yieldNow ?? (() => world.timers.sleep(0)),
  });
}

/** The ring of this node and its peers with the configured P and RF (the same on every member). */
function ringOf(settings: NodeServicesSettings, peers: readonly PeerConfig[]): LiveTopology {
  return new LiveTopology(
    Topology.create({
      members: [settings.id, ...peers.map((p) => p.id)],
      partitions: settings.ring?.partitions ?? partitionsDefault,
      replicationFactor: settings.ring?.replicationFactor ?? replicationFactorDefault,
      leafBits: settings.replica.leafBits ?? leafBitsDefault,
    }),
  );
}
