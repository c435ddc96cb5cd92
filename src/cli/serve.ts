// `converge serve` and `converge demo`.

import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { loadClusterSecret } from '../server/auth/cluster-auth.js';
import { readConfigFile, readEnv, resolveConfig, type RawSettings } from '../config/config.js';
import { startNode } from '../server/server.js';
import { LocalCluster } from './cluster.js';
import { extendWithAntiEntropy } from './wiring.js';
import { runScenario, scenarioNames, scenarioSettings } from './scenarios.js';

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/** Flags as commander parsed them, in the flag-name form config expects. */
function flagSettings(opts: Record<string, unknown>): RawSettings {
  const map: Record<string, string> = {
    id: 'id', listen: 'listen', data: 'data', peers: 'peers', aeInterval: 'ae-interval', sync: 'sync',
    hints: 'hints', readRepair: 'read-repair', antiEntropy: 'anti-entropy', leafBits: 'leaf-bits',
    keyBytesMax: 'key-bytes-max', tombstoneGrace: 'tombstone-grace', aeRecordsPerSecond: 'ae-records-per-second', aeBytesPerSecond: 'ae-bytes-per-second',
    aeSessionsMax: 'ae-sessions-max', aeRoundBytesMax: 'ae-round-bytes-max', aeRoundBusyMax: 'ae-round-busy-max', aeRepairBatchRecordsMax: 'ae-repair-batch-records-max', aeRepairBatchesInFlight: 'ae-repair-batches-in-flight', aeAdaptive: 'ae-adaptive', aeLoopBusyTarget: 'ae-loop-busy-target', aeAdaptInterval: 'ae-adapt-interval', aeRecordsPerSecondMin: 'ae-records-per-second-min', aeServeWorker: 'ae-serve-worker',
    verifyInterval: 'verify-interval', verifyRecordsPerSecond: 'verify-records-per-second', verifyStartDelay: 'verify-start-delay',
    hintsPerPeerMax: 'hints-per-peer-max', hintBytesMax: 'hint-bytes-max', hintAgeMax: 'hint-age-max', valueBytesMax: 'value-bytes-max', bodyBytesMax: 'body-bytes-max', requestTimeout: 'request-timeout',
    tlsCert: 'tls-cert', tlsKey: 'tls-key', tlsCa: 'tls-ca', clientTokensFile: 'client-tokens-file',
    replicationQueueRecordsMax: 'replication-queue-records-max', replicationQueueBytesMax: 'replication-queue-bytes-max',
    replicationMessageRecordsMax: 'replication-message-records-max', replicationMessageBytesMax: 'replication-message-bytes-max',
    replicationMessagesInFlight: 'replication-messages-in-flight', admissionWaitMax: 'admission-wait-max',
    batchKeysMax: 'batch-keys-max', batchBytesMax: 'batch-bytes-max',
    connectionsMax: 'connections-max', headersTimeout: 'headers-timeout', receiveTimeout: 'receive-timeout', idleTimeout: 'idle-timeout', keepAliveTimeout: 'keep-alive-timeout',
  };
  const out: RawSettings = {};
  for (const [k, name] of Object.entries(map)) {
    const v = opts[k];
    if (typeof v === 'string' || typeof v === 'boolean') out[name] = v;
  }
  return out;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run one node')
    .option('--id <id>', 'this node\'s id')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:7101)')
    .option('--data <dir>', 'data directory (lmdb)')
    .option('--peers <list>', 'the other replicas: ID=URL,ID=URL')
    .option('--config <file>', 'JSON config file (keys are flag names)')
    .option('--ae-interval <duration>', 'anti-entropy interval, e.g. 500ms, 2s, 10m')
    .option('--sync <policy>', 'always | group | none (see docs/operations.md)')
    .option('--leaf-bits <n>', 'digest leaves = 2^n')
    .option('--key-bytes-max <n>', 'longest key in bytes')
    .option('--value-bytes-max <size>', 'largest value, e.g. 1MiB')
    .option('--body-bytes-max <size>', 'largest request body')
    .option('--request-timeout <duration>', 'how long a coordinator waits for replicas')
    .option('--tombstone-grace <duration>', 'margin below the cluster watermark before tombstones are purged')
    .option('--hints-per-peer-max <n>', 'hint store bound: hints per unreachable peer')
    .option('--hint-bytes-max <size>', 'hint store bound: bytes in all')
    .option('--hint-age-max <duration>', 'hints older than this are dropped (anti-entropy heals them)')
    .option('--ae-records-per-second <n>', 'repair throttle: records per second')
    .option('--ae-bytes-per-second <size>', 'repair throttle: bytes per second')
    .option('--ae-sessions-max <n>', 'anti-entropy sessions one node runs at once, begun by either side (default 1)')
    .option('--ae-round-bytes-max <size>', 'bytes one reconciliation round carries each way (default 16KiB)')
    .option('--ae-round-busy-max <duration>', 'how long building one round, or answering one, may hold the event loop (default 2ms)')
    .option('--ae-repair-batch-records-max <n>', 'records per repair fetch or push, i.e. per repair commit (default 250)')
    .option('--ae-repair-batches-in-flight <n>', 'repair batches one session keeps in flight: the next is sent while the last commits (default 2)')
    .option('--ae-loop-busy-target <percent>', 'adaptive repair rate: back off while the event loop is busier than this (default 60)')
    .option('--ae-adapt-interval <duration>', 'adaptive repair rate: how often the load is read (default 200ms)')
    .option('--ae-records-per-second-min <n>', 'adaptive repair rate: never slower than this (default 1000)')
    .option('--ae-adaptive', 'pace repair by the event loop\'s load as well as the throttle (off by default)')
    .option('--verify-interval <duration>', 'digest verification: pause between complete passes (default 10m)')
    .option('--verify-records-per-second <n>', 'digest verification: records read per second at most (default 20000)')
    .option('--verify-start-delay <duration>', 'digest verification: the first pass after a start waits at least this (default 1m)')
    .option('--cluster-secret-file <file>', 'file holding the cluster secret (or set CONVERGE_CLUSTER_SECRET)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM); peers are then https:// URLs')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', 'CA certificate (PEM) that peers\' certificates must chain to')
    .option('--client-tokens-file <file>', 'require bearer tokens on the public API: lines of read-only|read-write TOKEN [NAME]')
    .option('--replication-queue-records-max <n>', 'records queued or in flight to one peer; past it writes wait (default 16384)')
    .option('--replication-queue-bytes-max <size>', 'bytes queued or in flight to one peer; past it writes wait (default 64MiB)')
    .option('--replication-message-records-max <n>', 'records in one replication message (default 1024)')
    .option('--replication-message-bytes-max <size>', 'bytes in one replication message (default 1MiB)')
    .option('--replication-messages-in-flight <n>', 'replication messages out to one peer at once (default 1)')
    .option('--admission-wait-max <duration>', 'a write waits this long for queue room, then 503 OVERLOADED (default 1s; 0: at once)')
    .option('--batch-keys-max <n>', 'keys in one batch request (default 1000)')
    .option('--batch-bytes-max <size>', 'key and value bytes in one batch request (default 4MiB)')
    .option('--connections-max <n>', 'open connections at most; further ones are closed at once')
    .option('--headers-timeout <duration>', 'a client must send its request headers within this')
    .option('--receive-timeout <duration>', 'a client must send its whole request within this')
    .option('--idle-timeout <duration>', 'a connection with no traffic for this long is closed')
    .option('--keep-alive-timeout <duration>', 'an idle keep-alive connection is closed after this')
    .option('--no-hints', 'switch hinted handoff off')
    .option('--no-read-repair', 'switch read repair off')
    .option('--no-anti-entropy', 'switch anti-entropy off')
    .option('--no-ae-serve-worker', 'do repair\'s bulk work (range fetches, pushes, pulled records) on the event loop, not in a low-priority worker thread')
    .action(async (opts: Record<string, unknown>) => {
      const file = typeof opts.config === 'string' ? readConfigFile(opts.config) : {};
      // commander sets the --no-X booleans to true by default; only an explicit --no-X should win over file/env.
      const flags = flagSettings(opts);
      for (const k of ['hints', 'read-repair', 'anti-entropy', 'ae-serve-worker']) if (flags[k] === true) delete flags[k];
      const config = resolveConfig(file, readEnv(process.env), flags);
      let lastReport = 0;
      const clusterSecret = loadClusterSecret(process.env, typeof opts.clusterSecretFile === 'string' ? opts.clusterSecretFile : undefined);
      if (clusterSecret === undefined) {
        process.stderr.write('converge: WARNING: no cluster secret (CONVERGE_CLUSTER_SECRET or --cluster-secret-file): anyone who can reach this node can write through /internal/\n');
      }
      if (config.clientTokensFile !== null && config.tls.certFile === null) {
        process.stderr.write('converge: WARNING: client tokens without TLS (--tls-cert) travel in clear and can be captured on the network\n');
      }
      const node = await startNode({
        config,
        clusterSecret,
        extend: extendWithAntiEntropy,
        onRebuildProgress: (p) => {
          if (p.done || Date.now() - lastReport > 1000) {
            lastReport = Date.now();
            process.stderr.write(`digest rebuild: ${p.scanned} records${p.done ? ', done' : '…'}\n`);
          }
        },
      });
      process.stdout.write(`converge node ${config.id} listening on ${node.url} (data ${config.dataDir}, peers ${config.peers.map((p) => p.id).join(', ') || 'none'})\n`);
      await untilSignal();
      await node.stop();
    });
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a local cluster on 127.0.0.1 with data in a temporary folder')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--base-port <p>', 'node i listens on P+i', '7100')
    .option('--ae-interval <duration>', 'anti-entropy interval', '2s')
    .option('--scenario <name>', `run a narrated scenario: ${scenarioNames.join(', ')}`)
    .action(async (opts: { nodes: string; basePort: string; aeInterval: string; scenario?: string }) => {
      const nodes = Number(opts.nodes);
      const basePort = Number(opts.basePort);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error('--nodes must be 1..9');
      if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65000) throw new Error('--base-port must be a port number');
      if (opts.scenario !== undefined && !scenarioNames.includes(opts.scenario)) {
        throw new Error(`unknown scenario "${opts.scenario}"; choose one of ${scenarioNames.join(', ')}`);
      }
      const settings = { 'ae-interval': opts.aeInterval, ...(opts.scenario === undefined ? {} : scenarioSettings(opts.scenario)) };
      // The demo's nodes share a fresh random secret: its internal traffic is authenticated like a real cluster's.
      const cluster = new LocalCluster({ nodes, basePort, settings, extend: extendWithAntiEntropy, scenario: opts.scenario ?? null, clusterSecret: randomBytes(32) });
      process.on('SIGINT', () => void cluster.close().then(() => process.exit(130)));
      await cluster.startAll();
      const urls = cluster.configs.map((c) => cluster.url(c.id));
      process.stdout.write(`converge demo: ${nodes} nodes, data in ${cluster.dataRoot}\n\n`);
      for (const c of cluster.configs) process.stdout.write(`  ${c.id}  ${cluster.url(c.id)}   dashboard: ${cluster.url(c.id)}/\n`);
      process.stdout.write(`\nTry it:\n  converge put greeting hello --node ${urls[0]}\n  converge get greeting --node ${urls[1]} --consistency all\n  converge status --node ${urls[0]}\n\nCtrl-C stops the cluster and removes its data.\n`);
      if (opts.scenario !== undefined) {
        const ok = await runScenario(opts.scenario, cluster, (line) => process.stdout.write(`${line}\n`));
        await cluster.close();
        process.exit(ok ? 0 : 1);
      }
      await untilSignal();
      process.stdout.write('stopping…\n');
      await cluster.close();
    });
}
