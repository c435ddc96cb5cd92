// The service skeleton: config → context → server. The context wires the real world (lmdb storage, undici
// transport, wall clock, timers) into the same node code the simulation wires virtually.

import { Registry } from 'prom-client';
import { TransportFaults } from '../cluster/faults.js';
import { HttpTransport, outgoingAddress } from '../cluster/http-transport.js';
import { type ConvergeNode, createNode } from '../cluster/node.js';
import type { Transport } from '../cluster/transport.js';
import type { NodeConfig } from '../config/config.js';
import { logFailure } from '../core/failures.js';
import type { RebuildProgress } from '../replica/rebuild.js';
import { type LocalReplica, openReplica } from '../replica/replica.js';
import { systemClock, systemRandom, systemTimers } from '../runtime/system.js';
import { GuardedStorage } from '../storage/guarded.js';
import { openLmdbStorage } from '../storage/lmdb.js';
import type { Storage } from '../storage/storage.js';
import type { AntiEntropyControl } from './antientropy-control.js';
import { registerTransportMetrics } from './health-metrics.js';

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
  readonly storage: Storage & Pick<GuardedStorage, 'health'>;
  readonly replica: LocalReplica;
  readonly transport: Transport & { close(): Promise<void> };
  readonly faults: TransportFaults;
  readonly node: ConvergeNode;
  readonly registry: Registry;
  antiEntropy: AntiEntropyControl | undefined;
  /** Registers shutdown work that runs before the node and storage close (newest first). */
  onClose(fn: () => Promise<void>): void;
  close(): Promise<void>;
}

export async function createServiceContext(options: NodeContextOptions): Promise<ServiceContext> {
  const { config } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const storage = openGuardedStorage(config, log);
  const replica = await openReplica({
    id: config.id,
    storage,
    leafBits: config.leafBits,
    clock: systemClock,
    maxClockDriftMs: config.maxClockDriftMs,
    symbolsMax: config.symbolsMax,
    storageWritesInFlightMax: config.storageWritesInFlightMax,
    ...(options.onRebuildProgress === undefined ? {} : { onRebuildProgress: options.onRebuildProgress }),
  });
  const faults = new TransportFaults(systemRandom);
  const transport = createTransport(options, faults);
  const registry = new Registry();
  registerTransportMetrics(registry, () => transport.abandoned);
  const node = createNode({
    id: config.id,
    peers: config.peers,
    replica,
    transport,
    clock: systemClock,
    random: systemRandom,
    timers: systemTimers,
    limits: {
      keyBytesMax: config.limits.keyBytesMax,
      valueBytesMax: config.limits.valueBytesMax,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      ...config.replication,
    },
    mechanisms: config.mechanisms,
    hintLimits: config.hints,
    registry,
    maxClockDriftMs: config.maxClockDriftMs,
    monotonicNow: () => performance.now(),
    warn: (line) => process.stderr.write(`converge: WARNING: node ${config.id}: ${line}\n`),
    defer: (fn) => setImmediate(fn),
  });
  node.start();
  const closers: Array<() => Promise<void>> = [];
  const ctx: ServiceContext = {
    config,
    storage,
    replica,
    transport,
    faults,
    node,
    registry,
    antiEntropy: undefined,
    onClose: (fn) => closers.unshift(fn),
    async close() {
      for (const fn of closers) await fn().catch(logFailure('shutdown step'));
      await node.close();
      await transport.close();
      await storage.close();
    },
  };
  return ctx;
}

/**
 * lmdb behind the guard that turns a failing disk into refused writes, retried, and logged once per period.
 */
function openGuardedStorage(config: NodeConfig, log: (line: string) => void): GuardedStorage {
  return new GuardedStorage(openLmdbStorage({ path: config.dataDir, sync: config.sync }), {
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
function createTransport(options: NodeContextOptions, faults: TransportFaults): HttpTransport {
  const { config } = options;
  const localAddress = config.bindOutgoing ? outgoingAddress(config.listen.host) : undefined;
  return new HttpTransport({
    connectTimeoutMs: config.limits.requestTimeoutMs,
    ...(localAddress === undefined ? {} : { localAddress }),
    self: config.id,
    peers: new Map(config.peers.map((p) => [p.id, p.url])),
    faults,
    ...(options.sign === undefined ? {} : { sign: options.sign }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
}
