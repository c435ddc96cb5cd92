// The service skeleton: config → context → server. The context wires the real world (lmdb storage, undici
// transport, wall clock, timers) into the same node code the simulation wires virtually.

import { Registry } from 'prom-client';
import { type RepairWorker, startRepairWorker } from '../antientropy/repair-worker.js';
import { TransportFaults } from '../cluster/faults.js';
import { HttpTransport, outgoingAddress } from '../cluster/http-transport.js';
import { registerJoinRoute } from '../cluster/membership-api.js';
import type { ConvergeNode } from '../cluster/node.js';
import type { Transport } from '../cluster/transport.js';
import type { NodeConfig } from '../config/config.js';
import { repairResponderLimitsDefault } from '../core/reconcile-driver.js';
import type { LiveTopology } from '../core/topology-describe.js';
import type { RebuildProgress } from '../replica/rebuild.js';
import type { LocalReplica } from '../replica/replica.js';
import { eventLoopProbe } from '../runtime/load-probe.js';
import { systemClock, systemRandom, systemTimers } from '../runtime/system.js';
import { createNodeServices, type NodeServices, type NodeWorld } from '../services/node-services.js';
import { membershipDriverSettingsFromConfig, settingsFromConfig } from '../services/settings.js';
import type { NodeStatus } from '../services/status.js';
import { openStorageEngine } from '../storage/engines.js';
import { GuardedStorage } from '../storage/guarded.js';
import type { Storage } from '../storage/storage.js';
import type { AntiEntropyControl } from './antientropy-control.js';
import { registerTransportMetrics } from './health-metrics.js';
import { joinThrough, selfUrlOf } from './membership-join.js';

export interface NodeContextOptions {
  readonly config: NodeConfig;
  /** Called while the digest is rebuilt at startup (large replicas take a moment). */
  readonly onRebuildProgress?: (progress: RebuildProgress) => void;
  /** Adds authentication headers to outgoing peer requests. */
  readonly sign?: (method: string, path: string, body: Uint8Array) => Record<string, string>;
  /** The CA that https:// peers' certificates must chain to. */
  readonly tls?: { ca?: Buffer };
  /** Where storage failures and recoveries are told (stderr by default). */
  readonly log?: (line: string) => void;
}

export interface ServiceContext {
  readonly config: NodeConfig;
  readonly services: NodeServices;
  readonly storage: Storage & Pick<GuardedStorage, 'health'>;
  readonly replica: LocalReplica;
  readonly transport: Transport & { close(): Promise<void> };
  readonly faults: TransportFaults;
  readonly node: ConvergeNode;
  readonly registry: Registry;
  /** The operator's controls of anti-entropy; undefined when it is switched off (--no-anti-entropy). */
  readonly antiEntropy: AntiEntropyControl | undefined;
  /** The ring, built once by the composition root; the node and anti-entropy read who holds what from it. */
  readonly topology: LiveTopology;
  /** /status: the node's and anti-entropy's statuses. */
  status(): NodeStatus;
  close(): Promise<void>;
}

/** The real world of a node (wall clock, timers, HTTP to the peers, lmdb), given to the composition root. */
export async function createServiceContext(options: NodeContextOptions): Promise<ServiceContext> {
  const { config } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Opened first: a data directory another process holds fails the start before anything else exists.
  const storage = openGuardedStorage(config, log);
  const faults = new TransportFaults(systemRandom);
  // The transport sends the membership's header with every internal request; the membership is built with
  // the rest of the graph below, before any request leaves (a join's first call goes without one).
  let services: NodeServices | undefined;
  const addresses = new Map(config.peers.map((p) => [p.id, p.url]));
  const transport = createTransport(options, faults, addresses, () => services?.membership?.header() ?? '');
  const registry = new Registry();
  registerTransportMetrics(registry, () => transport.abandoned);
  const world: NodeWorld = {
    clock: systemClock,
    random: () => systemRandom,
    timers: systemTimers,
    monotonicNow: () => performance.now(),
    transport,
    openStorage: () => storage,
    registry,
    ...(config.aeAdaptive.enabled ? { loadProbe: eventLoopProbe() } : {}),
    ...(config.aeServeWorker
      ? { repairWorker: (replica: LocalReplica) => repairWorker(config, replica) }
      : {}),
    warn: (line) => process.stderr.write(`converge: WARNING: node ${config.id}: ${line}\n`),
    defer: (fn) => setImmediate(fn),
  };
  const selfUrl = selfUrlOf(config);
  const seed =
    config.membership.join === null
      ? undefined
      : await joinThrough(transport, addresses, config, selfUrl).catch(async (err: unknown) => {
          await transport.close();
          await storage.close();
          throw err;
        });
  const settings = settingsFromConfig(config, options.onRebuildProgress);
  const built = createNodeServices(world, {
    ...settings,
    membership: {
      addresses,
      selfUrl,
      ...(seed === undefined ? {} : { seed }),
      driver: membershipDriverSettingsFromConfig(config),
    },
  });
  services = built;
  if (built.membership !== undefined) registerJoinRoute(built.node, built.membership);
  built.start();
  return {
    config,
    services: built,
    storage,
    replica: built.replica,
    transport,
    faults,
    node: built.node,
    registry,
    antiEntropy: config.mechanisms.antiEntropy ? built.antiEntropy : undefined,
    topology: built.topology,
    status: () => built.status(),
    async close() {
      await built.close();
      await transport.close();
    },
  };
}

/** Repair's bulk work in a thread at the lowest OS priority, reading the node's storage through its own handle. */
function repairWorker(config: NodeConfig, replica: LocalReplica): RepairWorker | undefined {
  // An engine whose data another thread cannot read (memory) does the work on the event loop.
  const reader = replica.storage.readerSpec();
  if (reader === null) return undefined;
  return startRepairWorker({
    reader,
    responseBytesMax: repairResponderLimitsDefault.fetchResponseBytesMax,
    writeEpochs: replica.shareWriteEpochs(),
    onFailure: (err) =>
      process.stderr.write(
        `converge: WARNING: node ${config.id}: the repair worker failed (${err.message}); repair's bulk work runs on the event loop from now on\n`,
      ),
  });
}

/**
 * The configured engine (lmdb by default) behind the guard that turns a failing disk into refused writes, retried, and logged once per period.
 */
function openGuardedStorage(config: NodeConfig, log: (line: string) => void): GuardedStorage {
  return new GuardedStorage(openStorageEngine(config.engine, { path: config.dataDir, sync: config.sync }), {
    now: () => systemClock.now(),
    monotonicNow: () => performance.now(),
    retryMs: config.storageRetryMs,
    // Once per failing period and once at its end, not per refused write: a full disk is one condition.
    onFailure: (err, begins) => {
      if (!begins) return;
      const retry = `reads go on, writes are tried again every ${config.storageRetryMs} ms`;
      log(`converge: ERROR: node ${config.id}: storage failed (${err.code}): ${err.message}; ${retry}`);
    },
    onRecovery: (ms) => log(`converge: node ${config.id}: storage takes writes again after ${ms} ms`),
  });
}

/**
 * HTTP to the peers, leaving from the listen address when it names one IP (a partition by address cuts it).
 */
function createTransport(
  options: NodeContextOptions,
  faults: TransportFaults,
  addresses: Map<string, string>,
  ringFingerprint: () => string,
): HttpTransport {
  const { config } = options;
  const localAddress = config.bindOutgoing ? outgoingAddress(config.listen.host) : undefined;
  return new HttpTransport({
    connectTimeoutMs: config.limits.requestTimeoutMs,
    ...(localAddress === undefined ? {} : { localAddress }),
    self: config.id,
    peers: addresses,
    faults,
    ringFingerprint,
    ...(options.sign === undefined ? {} : { sign: options.sign }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
}
