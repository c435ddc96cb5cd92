// The node's configuration: defaults, then a JSON config file, then CONVERGE_* environment variables, then
// command-line flags (each later source wins). Every value is validated here, once, with a one-line error.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { partitionSymbolsBudgetDefault, partitionSymbolsBudgetLimit } from '../core/partition-symbols.js';
import { symbolsMaxLimit, symbolsMaxMin } from '../core/riblt.js';
import {
  partitionsDefault,
  partitionsMax,
  replicationFactorDefault,
  replicationFactorMax,
  Topology,
} from '../core/topology.js';
import { recordsPerMessageMax } from '../core/wire.js';
import { streamPageBytesLimit } from '../core/wire-stream.js';
import { type StorageEngine, type SyncPolicy, storageEngines, syncPolicies } from '../storage/storage.js';
import {
  configError,
  parseDuration,
  parseInteger,
  parseListen,
  parsePeers,
  parseSize,
  validateNodeId,
} from './parse.js';

export interface NodeConfig {
  readonly id: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly dataDir: string;
  readonly peers: ReadonlyArray<{ readonly id: string; readonly url: string }>;
  /** `--join URL` (a member to join the cluster through), `--replace DEAD`, `--advertise URL`. */
  readonly membership: {
    readonly join: string | null;
    readonly replace: string | null;
    readonly advertise: string | null;
  };
  readonly sync: SyncPolicy;
  /** The storage engine (storage/engines.ts): lmdb, or memory (nothing survives a restart). */
  readonly engine: StorageEngine;
  readonly aeIntervalMs: number;
  readonly mechanisms: {
    readonly hints: boolean;
    readonly readRepair: boolean;
    readonly antiEntropy: boolean;
  };
  readonly limits: {
    readonly keyBytesMax: number;
    readonly valueBytesMax: number;
    readonly bodyBytesMax: number;
    readonly requestTimeoutMs: number;
  };
  /** After a failed storage write (a full disk), writes are refused this long before one is tried again. */
  readonly storageRetryMs: number;
  /** Storage batches written at once: the next commits while the previous one is flushed. */
  readonly storageWritesInFlightMax: number;
  /** Outgoing connections to peers leave from the listen address when it is a specific IP. */
  readonly bindOutgoing: boolean;
  /**
   * Coalesced replication and write admission (docs/operations.md, "Replication queues and back-pressure").
   */
  readonly replication: {
    readonly replicationQueueRecordsMax: number;
    readonly replicationQueueBytesMax: number;
    readonly replicationMessageRecordsMax: number;
    readonly replicationMessageBytesMax: number;
    readonly replicationMessagesInFlightMax: number;
    readonly admissionWaitMsMax: number;
    readonly batchKeysMax: number;
    readonly batchBytesMax: number;
  };
  readonly hints: {
    readonly hintsPerPeerMax: number;
    readonly hintBytesMax: number;
    readonly hintAgeMsMax: number;
  };
  readonly leafBits: number;
  /**
   * The ring (docs/operations.md, "Choosing N, RF and P"): partitions of the keyspace (a power of two, at most
   * the digest's leaves) and the replicas each key has. Every member must be started with the same values.
   */
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Coded symbols kept for the symbol path (16 bytes each); 0 turns the path off. */
  readonly symbolsMax: number;
  /** Coded symbols per partition, all partitions together (16 bytes each); 0: scoped sessions descend. */
  readonly partitionSymbolsBudget: number;
  /**
   * Tombstones younger than the cluster watermark minus this are never purged (clock skew, write timeouts).
   */
  readonly tombstoneGraceMs: number;
  /** Versions stamped further ahead of this clock are refused on every path; past it, no coordinating. */
  readonly maxClockDriftMs: number;
  readonly aeThrottle: { readonly recordsPerSecondMax: number; readonly bytesPerSecondMax: number };
  /**
   * Sessions at once per node (either side began them), bytes one round carries each way, how long building
   * one round (or the answer to one) may take, records per repair batch, repair batches in flight per
   * session.
   */
  readonly aeSessions: {
    readonly sessionsMax: number;
    readonly roundBytesMax: number;
    readonly roundBusyMsMax: number;
    readonly repairBatchRecordsMax: number;
    readonly repairBatchesInFlightMax: number;
    readonly streamPageRecordsMax: number;
    readonly streamPageBytesMax: number;
    readonly streamPageBusyMsMax: number;
    readonly streamPagesInFlightMax: number;
    readonly streamRecordsPerSecondMax: number;
  };
  /**
   * The repair rate backing off while the node's event loop is busier than the target (docs/anti-entropy.md).
   */
  readonly aeAdaptive: {
    readonly enabled: boolean;
    readonly loopBusyPercentTarget: number;
    readonly intervalMs: number;
    readonly recordsPerSecondMin: number;
  };
  /**
   * Range fetches answered by a worker thread at the lowest OS priority (src/antientropy/repair-worker.ts).
   */
  readonly aeServeWorker: boolean;
  /**
   * Background digest verification (src/replica/verify.ts): pause between passes, pace, delay after a start.
   */
  readonly verification: {
    readonly passIntervalMs: number;
    readonly recordsPerSecondMax: number;
    readonly startDelayMs: number;
  };
  readonly logLevel: string;
  /** The membership change driver (src/cluster/membership-driver-loop.ts; docs/operations.md). */
  readonly membershipDriver: {
    readonly cleanupGraceMs: number;
    readonly streamingConcurrency: number;
    readonly partitionsPerSessionMax: number;
    readonly tickMs: number;
    readonly takeoverAfterMs: number;
  };
  /**
   * Certificate files (PEM); with cert and key the node serves HTTPS, with a CA it verifies https:// peers.
   */
  readonly tls: {
    readonly certFile: string | null;
    readonly keyFile: string | null;
    readonly caFile: string | null;
  };
  /** Bearer tokens for the public API (docs/security.md); null leaves the public API open. */
  readonly clientTokensFile: string | null;
  /** How often the tokens file is checked for changes (it is also reloaded on SIGHUP). */
  readonly clientTokensPollMs: number;
  /** A pause or throttle set by an operator and in force longer than this shows as a warning. */
  readonly operatorActionWarnAfterMs: number;
  /** Connection limits and slow-client timeouts of the HTTP server. */
  readonly http: {
    readonly connectionsMax: number;
    readonly headersTimeoutMs: number;
    readonly receiveTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
}

/** Raw settings as strings or booleans, whichever source they came from; keys are the flag names. */
export type RawSettings = Partial<Record<string, string | boolean | undefined>>;

export const configDefaults: Readonly<Record<string, string | boolean>> = {
  listen: '127.0.0.1:7101',
  sync: 'group',
  engine: 'lmdb',
  'ae-interval': '10s',
  hints: true,
  'read-repair': true,
  'anti-entropy': true,
  'key-bytes-max': '1024',
  'value-bytes-max': '1MiB',
  'body-bytes-max': '2MiB',
  'request-timeout': '2s',
  'storage-retry': '1s',
  'storage-writes-in-flight': '8',
  'bind-outgoing': true,
  'replication-queue-records-max': '16384',
  'replication-queue-bytes-max': '64MiB',
  'replication-message-records-max': '1024',
  'replication-message-bytes-max': '1MiB',
  'replication-messages-in-flight': '1',
  'admission-wait-max': '1s',
  'batch-keys-max': '1000',
  'batch-bytes-max': '4MiB',
  'hints-per-peer-max': '100000',
  'hint-bytes-max': '256MiB',
  'hint-age-max': '3h',
  'leaf-bits': '18',
  partitions: String(partitionsDefault),
  'replication-factor': String(replicationFactorDefault),
  'ae-symbols': '65536',
  'ae-partition-symbols': String(partitionSymbolsBudgetDefault),
  'tombstone-grace': '60s',
  'max-clock-drift': '60s',
  'ae-records-per-second': '50000',
  'ae-bytes-per-second': '64MiB',
  'ae-sessions-max': '1',
  'ae-round-bytes-max': '16KiB',
  'ae-round-busy-max': '2ms',
  'ae-repair-batch-records-max': '250',
  'ae-repair-batches-in-flight': '2',
  'ae-stream-page-records-max': '8192',
  'ae-stream-page-bytes-max': '4MiB',
  'ae-stream-page-busy-max': '10ms',
  'ae-stream-pages-in-flight': '3',
  'ae-stream-records-per-second': '500000',
  'ae-adaptive': false,
  'ae-loop-busy-target': '60',
  'ae-adapt-interval': '200ms',
  'ae-records-per-second-min': '1000',
  'ae-serve-worker': true,
  'membership-cleanup-grace': '10m',
  'membership-streaming-concurrency': '4',
  'membership-partitions-per-session': '64',
  'membership-tick': '1s',
  'membership-takeover-after': '1m',
  'verify-interval': '10m',
  'verify-records-per-second': '20000',
  'verify-start-delay': '1m',
  'log-level': 'info',
  'connections-max': '1024',
  'headers-timeout': '10s',
  'receive-timeout': '30s',
  'idle-timeout': '60s',
  'keep-alive-timeout': '5s',
  'client-tokens-poll': '2s',
  'operator-action-warn-after': '1h',
};

/** Secrets are read from their own variables, never taken as settings. */
const secretEnvNames = new Set(['CONVERGE_CLUSTER_SECRET', 'CONVERGE_TOKEN']);

const fileSchema = z.record(
  z.string(),
  z.union([z.string(), z.number(), z.boolean(), z.array(z.object({ id: z.string(), url: z.string() }))]),
);

/** Reads a JSON config file whose keys are flag names (`"ae-interval": "2s"`). */
export function readConfigFile(path: string): RawSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw configError(`--config ${path}: ${(err as Error).message}`);
  }
  const result = fileSchema.safeParse(parsed);
  if (!result.success) throw configError(`--config ${path}: expected an object of flag names to values`);
  const out: RawSettings = {};
  for (const [k, v] of Object.entries(result.data)) {
    out[k] = Array.isArray(v)
      ? v.map((p) => `${p.id}=${p.url}`).join(',')
      : typeof v === 'number'
        ? String(v)
        : v;
  }
  return out;
}

/** CONVERGE_AE_INTERVAL=2s → { 'ae-interval': '2s' }; CONVERGE_HINTS=false → { hints: false }. */
export function readEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CONVERGE_') || value === undefined || secretEnvNames.has(name)) continue;
    const key = name.slice('CONVERGE_'.length).toLowerCase().replace(/_/g, '-');
    out[key] = value === 'true' ? true : value === 'false' ? false : value;
  }
  return out;
}

export function resolveConfig(...sources: RawSettings[]): NodeConfig {
  const raw: RawSettings = { ...configDefaults };
  for (const s of sources) for (const [k, v] of Object.entries(s)) if (v !== undefined) raw[k] = v;
  const str = (k: string): string => {
    const v = raw[k];
    if (typeof v !== 'string' || v === '') throw configError(`--${k} is required`);
    return v;
  };
  const bool = (k: string): boolean => raw[k] === true || raw[k] === 'true';
  const sync = oneOf('sync', str('sync'), syncPolicies);
  const engine = oneOf('engine', str('engine'), storageEngines);
  const id = validateNodeId('--id', str('id'));
  const optional = (k: string): string | null =>
    typeof raw[k] === 'string' && raw[k] !== '' ? (raw[k] as string) : null;
  const peers = parsePeers('--peers', typeof raw.peers === 'string' ? raw.peers : '').filter(
    (p) => p.id !== id,
  );
  const leafBits = parseInteger('--leaf-bits', str('leaf-bits'), 4, 24);
  const tls = parseTls(optional('tls-cert'), optional('tls-key'), optional('tls-ca'), peers);
  return {
    id,
    listen: parseListen('--listen', str('listen')),
    dataDir: str('data'),
    peers,
    membership: parseMembershipFlags(optional),
    sync,
    engine,
    aeIntervalMs: parseDuration('--ae-interval', str('ae-interval')),
    mechanisms: { hints: bool('hints'), readRepair: bool('read-repair'), antiEntropy: bool('anti-entropy') },
    limits: {
      keyBytesMax: parseInteger('--key-bytes-max', str('key-bytes-max'), 1, 4000),
      valueBytesMax: parseSize('--value-bytes-max', str('value-bytes-max')),
      bodyBytesMax: parseSize('--body-bytes-max', str('body-bytes-max')),
      requestTimeoutMs: parseDuration('--request-timeout', str('request-timeout')),
    },
    storageRetryMs: parseDuration('--storage-retry', str('storage-retry')),
    storageWritesInFlightMax: parseStorageWritesInFlight(str('storage-writes-in-flight')),
    bindOutgoing: bool('bind-outgoing'),
    replication: parseReplication(str),
    hints: {
      hintsPerPeerMax: parseInteger('--hints-per-peer-max', str('hints-per-peer-max'), 0, 1e9),
      hintBytesMax: parseSize('--hint-bytes-max', str('hint-bytes-max')),
      hintAgeMsMax: parseDuration('--hint-age-max', str('hint-age-max')),
    },
    leafBits,
    ...parseRing(id, peers, leafBits, str),
    symbolsMax: parseSymbols(str('ae-symbols')),
    partitionSymbolsBudget: parseInteger(
      '--ae-partition-symbols',
      str('ae-partition-symbols'),
      0,
      partitionSymbolsBudgetLimit,
    ),
    tombstoneGraceMs: parseDuration('--tombstone-grace', str('tombstone-grace')),
    maxClockDriftMs: parseDuration('--max-clock-drift', str('max-clock-drift')),
    ...parseAntiEntropy(str, bool),
    aeServeWorker: bool('ae-serve-worker'),
    verification: parseVerification(str),
    membershipDriver: parseMembership(str),
    logLevel: str('log-level'),
    tls,
    clientTokensFile: optional('client-tokens-file'),
    clientTokensPollMs: parseDuration('--client-tokens-poll', str('client-tokens-poll')),
    operatorActionWarnAfterMs: parseDuration(
      '--operator-action-warn-after',
      str('operator-action-warn-after'),
    ),
    http: parseHttpLimits(str),
  };
}

/** The membership change driver's settings. */
function parseMembership(str: (k: string) => string): NodeConfig['membershipDriver'] {
  return {
    cleanupGraceMs: parseDuration('--membership-cleanup-grace', str('membership-cleanup-grace')),
    streamingConcurrency: parseInteger(
      '--membership-streaming-concurrency',
      str('membership-streaming-concurrency'),
      1,
      64,
    ),
    partitionsPerSessionMax: parseInteger(
      '--membership-partitions-per-session',
      str('membership-partitions-per-session'),
      1,
      65_536,
    ),
    tickMs: parseDuration('--membership-tick', str('membership-tick')),
    takeoverAfterMs: parseDuration('--membership-takeover-after', str('membership-takeover-after')),
  };
}

/** The background digest verification's pace. */
function parseVerification(str: (k: string) => string): NodeConfig['verification'] {
  return {
    passIntervalMs: parseDuration('--verify-interval', str('verify-interval')),
    recordsPerSecondMax: parseInteger(
      '--verify-records-per-second',
      str('verify-records-per-second'),
      1,
      1e9,
    ),
    startDelayMs: parseDuration('--verify-start-delay', str('verify-start-delay')),
  };
}

/**
 * --partitions and --replication-factor, checked by building the ring once: Topology.create gives the
 * messages (a power of two, at most the digest's leaves, RF from 1 to replicationFactorMax).
 */
function parseRing(
  id: string,
  peers: ReadonlyArray<{ id: string }>,
  leafBits: number,
  str: (k: string) => string,
): Pick<NodeConfig, 'partitions' | 'replicationFactor'> {
  const partitions = parseInteger('--partitions', str('partitions'), 1, partitionsMax);
  const replicationFactor = parseInteger(
    '--replication-factor',
    str('replication-factor'),
    1,
    replicationFactorMax,
  );
  try {
    Topology.create({ members: [id, ...peers.map((p) => p.id)], partitions, replicationFactor, leafBits });
  } catch (err) {
    throw configError((err as Error).message);
  }
  return { partitions, replicationFactor };
}

function parseTls(
  certFile: string | null,
  keyFile: string | null,
  caFile: string | null,
  peers: ReadonlyArray<{ id: string; url: string }>,
): NodeConfig['tls'] {
  if ((certFile === null) !== (keyFile === null)) {
    throw configError(
      `--tls-cert and --tls-key go together (only ${certFile === null ? '--tls-key' : '--tls-cert'} is set)`,
    );
  }
  const plain = peers.find((p) => p.url.startsWith('http:'));
  if (certFile !== null && plain !== undefined) {
    throw configError(
      `--peers: peer ${plain.id} is ${plain.url}, but this node serves TLS (--tls-cert): list peers as https://`,
    );
  }
  return { certFile, keyFile, caFile };
}

function parseStorageWritesInFlight(value: string): number {
  return parseInteger('--storage-writes-in-flight', value, 1, 1024);
}

function parseReplication(str: (k: string) => string): NodeConfig['replication'] {
  // A zero admission wait is allowed: refuse at once when a queue is full.
  const wait = str('admission-wait-max');
  return {
    replicationQueueRecordsMax: parseInteger(
      '--replication-queue-records-max',
      str('replication-queue-records-max'),
      1,
      1e8,
    ),
    replicationQueueBytesMax: parseSize('--replication-queue-bytes-max', str('replication-queue-bytes-max')),
    replicationMessageRecordsMax: parseInteger(
      '--replication-message-records-max',
      str('replication-message-records-max'),
      1,
      65_536,
    ),
    replicationMessageBytesMax: parseSize(
      '--replication-message-bytes-max',
      str('replication-message-bytes-max'),
    ),
    replicationMessagesInFlightMax: parseInteger(
      '--replication-messages-in-flight',
      str('replication-messages-in-flight'),
      1,
      64,
    ),
    admissionWaitMsMax: wait.trim() === '0' ? 0 : parseDuration('--admission-wait-max', wait),
    batchKeysMax: parseInteger('--batch-keys-max', str('batch-keys-max'), 1, 65_536),
    batchBytesMax: parseSize('--batch-bytes-max', str('batch-bytes-max')),
  };
}

function parseHttpLimits(str: (k: string) => string): NodeConfig['http'] {
  const http = {
    connectionsMax: parseInteger('--connections-max', str('connections-max'), 1, 1_000_000),
    headersTimeoutMs: parseDuration('--headers-timeout', str('headers-timeout')),
    receiveTimeoutMs: parseDuration('--receive-timeout', str('receive-timeout')),
    idleTimeoutMs: parseDuration('--idle-timeout', str('idle-timeout')),
    keepAliveTimeoutMs: parseDuration('--keep-alive-timeout', str('keep-alive-timeout')),
  };
  // Node refuses a headers timeout longer than the whole-request timeout.
  if (http.headersTimeoutMs > http.receiveTimeoutMs) {
    throw configError(
      `--headers-timeout (${http.headersTimeoutMs} ms) must not exceed --receive-timeout (${http.receiveTimeoutMs} ms)`,
    );
  }
  return http;
}

/** --ae-symbols: 0 (no symbol path) or from symbolsMaxMin to symbolsMaxLimit. */
function parseSymbols(raw: string): number {
  const n = parseInteger('--ae-symbols', raw, 0, symbolsMaxLimit);
  if (n !== 0 && n < symbolsMaxMin) {
    throw configError(`--ae-symbols must be 0 or at least ${symbolsMaxMin}, got ${n}`);
  }
  return n;
}

/** The streaming fast path of a membership change's sessions (src/antientropy/stream-session.ts). */
function parseStreaming(str: (k: string) => string) {
  const bytesMax = parseSize('--ae-stream-page-bytes-max', str('ae-stream-page-bytes-max'));
  if (bytesMax < 1 || bytesMax > streamPageBytesLimit)
    throw configError(`--ae-stream-page-bytes-max must be 1B..${streamPageBytesLimit}B, got ${bytesMax}B`);
  return {
    streamPageRecordsMax: parseInteger(
      '--ae-stream-page-records-max',
      str('ae-stream-page-records-max'),
      0,
      recordsPerMessageMax,
    ),
    streamPageBytesMax: bytesMax,
    streamPageBusyMsMax: parseDuration('--ae-stream-page-busy-max', str('ae-stream-page-busy-max')),
    streamPagesInFlightMax: parseInteger(
      '--ae-stream-pages-in-flight',
      str('ae-stream-pages-in-flight'),
      1,
      64,
    ),
    streamRecordsPerSecondMax: parseInteger(
      '--ae-stream-records-per-second',
      str('ae-stream-records-per-second'),
      1,
      1e9,
    ),
  };
}

/** The anti-entropy settings: throttle, sessions, and the adaptive rate. */
function parseAntiEntropy(
  str: (k: string) => string,
  bool: (k: string) => boolean,
): Pick<NodeConfig, 'aeThrottle' | 'aeSessions' | 'aeAdaptive'> {
  return {
    aeThrottle: {
      recordsPerSecondMax: parseInteger('--ae-records-per-second', str('ae-records-per-second'), 1, 1e9),
      bytesPerSecondMax: parseSize('--ae-bytes-per-second', str('ae-bytes-per-second')),
    },
    aeSessions: {
      sessionsMax: parseInteger('--ae-sessions-max', str('ae-sessions-max'), 1, 1000),
      roundBytesMax: parseSize('--ae-round-bytes-max', str('ae-round-bytes-max')),
      roundBusyMsMax: parseDuration('--ae-round-busy-max', str('ae-round-busy-max')),
      repairBatchRecordsMax: parseInteger(
        '--ae-repair-batch-records-max',
        str('ae-repair-batch-records-max'),
        1,
        65_536,
      ),
      repairBatchesInFlightMax: parseInteger(
        '--ae-repair-batches-in-flight',
        str('ae-repair-batches-in-flight'),
        1,
        64,
      ),
      ...parseStreaming(str),
    },
    aeAdaptive: {
      enabled: bool('ae-adaptive'),
      loopBusyPercentTarget: parseInteger('--ae-loop-busy-target', str('ae-loop-busy-target'), 1, 100),
      intervalMs: parseDuration('--ae-adapt-interval', str('ae-adapt-interval')),
      recordsPerSecondMin: parseInteger(
        '--ae-records-per-second-min',
        str('ae-records-per-second-min'),
        1,
        1e9,
      ),
    },
  };
}

/** A value out of a fixed list, or CONFIG_INVALID naming the flag and the list. */
function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw configError(`--${flag}: "${value}" must be one of ${allowed.join(', ')}`);
  return found;
}

const urlPattern = /^https?:\/\/[^\s/]+\/?$/;

/** `--join`, `--replace` (only with --join) and `--advertise`, each checked. */
function parseMembershipFlags(optional: (k: string) => string | null): NodeConfig['membership'] {
  const join = optional('join');
  const replace = optional('replace');
  const advertise = optional('advertise');
  for (const [flag, url] of [
    ['--join', join],
    ['--advertise', advertise],
  ] as const) {
    if (url !== null && !urlPattern.test(url))
      throw configError(`${flag}: ${url} is not a base URL like http://10.0.0.1:7101`);
  }
  if (replace !== null && join === null)
    throw configError('--replace needs --join URL: the member that begins the replace');
  return {
    join: join?.replace(/\/$/, '') ?? null,
    replace: replace === null ? null : validateNodeId('--replace', replace),
    advertise: advertise?.replace(/\/$/, '') ?? null,
  };
}
