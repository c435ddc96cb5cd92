// `converge serve` and `converge demo`.

import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import {
  configDefaults,
  type NodeConfig,
  type RawSettings,
  readConfigFile,
  readEnv,
  resolveConfig,
} from '../config/config.js';
import { flagOf, helpOf, serveOptions } from '../config/options.js';
import { partitionsDefault, replicationFactorDefault } from '../core/topology.js';
import { loadClusterSecret } from '../server/auth/cluster-auth.js';
import { installProcessGuard } from '../server/process-guard.js';
import { type RunningNode, startNode } from '../server/server.js';
import { acquireDataLock } from '../storage/data-lock.js';
import { LocalCluster } from './cluster.js';
import { runDemoScenario } from './scenarios/demo-run.js';
import { paceMode } from './scenarios/pace.js';
import { scenarioNames, scenarioSettings } from './scenarios.js';

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/** commander's key for a flag: `ae-interval` → `aeInterval` (a `--no-hints` switch sets `hints`). */
function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Flags as commander parsed them, in the flag-name form config expects. A switch that is on by default reads
 * true unless `--no-NAME` was given: only an explicit switch may win over the config file and environment.
 */
function flagSettings(opts: Record<string, unknown>): RawSettings {
  const out: RawSettings = {};
  for (const o of serveOptions) {
    const v = opts[camel(o.name)];
    if (typeof v === 'string' || (typeof v === 'boolean' && v !== configDefaults[o.name])) out[o.name] = v;
  }
  return out;
}

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('run one node (every option can also come from --config FILE or CONVERGE_<OPTION>)');
  for (const o of serveOptions) command.option(flagOf(o), helpOf(o));
  command
    .option('--config <file>', 'JSON config file (keys are flag names) (default: none)')
    .option(
      '--cluster-secret-file <file>',
      'file holding the cluster secret, or set CONVERGE_CLUSTER_SECRET (default: none)',
    )
    .action(async (opts: Record<string, unknown>) => {
      const file = typeof opts.config === 'string' ? readConfigFile(opts.config) : {};
      const config = resolveConfig(file, readEnv(process.env), flagSettings(opts));
      installProcessGuard();
      const clusterSecret = loadClusterSecret(
        process.env,
        typeof opts.clusterSecretFile === 'string' ? opts.clusterSecretFile : undefined,
      );
      warnings(config, clusterSecret);
      // Before anything opens the folder: a second process on it is refused here, naming the first.
      const lock = acquireDataLock('--data', config.dataDir);
      let node: RunningNode;
      try {
        node = await startNode({
          config,
          clusterSecret,
          onRebuildProgress: rebuildReporter(),
        });
      } catch (err) {
        lock.release();
        throw err;
      }
      // The handlers go in before the line that says the node listens: whoever reads that line may signal at
      // once.
      const stopRequested = untilSignal();
      const peers = config.peers.map((p) => p.id).join(', ') || 'none';
      process.stdout.write(
        `converge node ${config.id} listening on ${node.url} (data ${config.dataDir}, peers ${peers})\n`,
      );
      await stopRequested;
      await node.stop();
      lock.release();
    });
}

function warnings(config: NodeConfig, clusterSecret: Buffer | undefined): void {
  if (clusterSecret === undefined) {
    process.stderr.write(
      'converge: WARNING: no cluster secret (CONVERGE_CLUSTER_SECRET or --cluster-secret-file): anyone who can reach this node can write through /internal/\n',
    );
  }
  if (config.clientTokensFile !== null && config.tls.certFile === null) {
    process.stderr.write(
      'converge: WARNING: client tokens without TLS (--tls-cert) travel in clear and can be captured on the network\n',
    );
  }
}

function rebuildReporter(): (p: { scanned: number; done: boolean }) => void {
  let lastReport = 0;
  return (p) => {
    if (p.done || Date.now() - lastReport > 1000) {
      lastReport = Date.now();
      process.stderr.write(`digest rebuild: ${p.scanned} records${p.done ? ', done' : '…'}\n`);
    }
  };
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a local cluster on 127.0.0.1 with data in a temporary folder')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--base-port <p>', 'node i listens on P+i', '7100')
    .option('--ae-interval <duration>', 'anti-entropy interval', '2s')
    .option('--partitions <P>', 'ring partitions, the same on every node', String(partitionsDefault))
    .option(
      '--replication-factor <RF>',
      'replicas of each key, the same on every node',
      String(replicationFactorDefault),
    )
    .option('--scenario <name>', `run a narrated scenario: ${scenarioNames.join(', ')}`)
    .option(
      '--pace <duration>',
      'scenario: pause between steps (default: wait for a key on a terminal; 0: none)',
    )
    .option('--exit', "scenario: stop the cluster after the story; the exit code is the story's own check")
    .action(async (opts: DemoFlags) => {
      const { nodes, basePort, settings } = checkDemoFlags(opts);
      installProcessGuard();
      // The demo's nodes share a fresh random secret: its internal traffic is authenticated like a real
      // cluster's.
      const cluster = new LocalCluster({
        nodes,
        basePort,
        settings,
        scenario: opts.scenario ?? null,
        clusterSecret: randomBytes(32),
      });
      process.on('SIGINT', () => void cluster.close().then(() => process.exit(130)));
      try {
        await cluster.startAll();
      } catch (err) {
        // A busy port or a failed start: stop what did start and remove the temporary folder.
        await cluster.close();
        throw portInUse(err, basePort, nodes) ?? err;
      }
      printDemoIntro(cluster, nodes);
      if (opts.scenario !== undefined) {
        // A story that throws must not leave the cluster's temporary folder behind.
        const ok = await runDemoScenario(cluster, {
          scenario: opts.scenario,
          pace: opts.pace,
          exit: opts.exit === true,
        }).catch(async (err: unknown) => {
          await cluster.close();
          throw err;
        });
        if (opts.exit === true) {
          await cluster.close();
          process.exit(ok ? 0 : 1);
        }
      }
      await untilSignal();
      process.stdout.write('stopping…\n');
      await cluster.close();
    });
}

interface DemoFlags {
  nodes: string;
  basePort: string;
  aeInterval: string;
  partitions: string;
  replicationFactor: string;
  scenario?: string;
  pace?: string;
  exit?: boolean;
}

/** The demo's flags checked before any node starts or any folder is made; the settings of every node. */
function checkDemoFlags(opts: DemoFlags): { nodes: number; basePort: number; settings: RawSettings } {
  const nodes = Number(opts.nodes);
  const basePort = Number(opts.basePort);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error('--nodes must be 1..9');
  if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65000)
    throw new Error('--base-port must be a port number');
  if (opts.scenario !== undefined && !scenarioNames.includes(opts.scenario)) {
    throw new Error(`unknown scenario "${opts.scenario}"; choose one of ${scenarioNames.join(', ')}`);
  }
  if (opts.scenario === undefined && (opts.pace !== undefined || opts.exit === true)) {
    throw new Error('--pace and --exit apply to a --scenario only');
  }
  if (opts.pace !== undefined) paceMode({ pace: opts.pace, exit: true, interactive: false });
  const settings = {
    'ae-interval': opts.aeInterval,
    // Every node of the demo gets the same ring.
    partitions: opts.partitions,
    'replication-factor': opts.replicationFactor,
    ...(opts.scenario === undefined ? {} : scenarioSettings(opts.scenario)),
  };
  return { nodes, basePort, settings };
}

/** Where the nodes listen, and what to try. */
function printDemoIntro(cluster: LocalCluster, nodes: number): void {
  const urls = cluster.configs.map((c) => cluster.url(c.id));
  process.stdout.write(`converge demo: ${nodes} nodes, data in ${cluster.dataRoot}\n\n`);
  for (const c of cluster.configs)
    process.stdout.write(`  ${c.id}  ${cluster.url(c.id)}   dashboard: ${cluster.url(c.id)}/\n`);
  process.stdout.write(
    `\nTry it:\n  converge put greeting hello --node ${urls[0]}\n  converge get greeting --node ${urls[1]} --consistency all\n  converge status --node ${urls[0]}\n\nCtrl-C stops the cluster and removes its data.\n`,
  );
}

/** EADDRINUSE as what to do about it. */
function portInUse(err: unknown, basePort: number, nodes: number): Error | undefined {
  const e = err as { code?: string; port?: number };
  if (e.code !== 'EADDRINUSE') return undefined;
  const range = `${basePort + 1}-${basePort + nodes}`;
  return new Error(
    `port ${e.port ?? 'in the range'} is in use (the demo needs ${range}): is another demo or node running? Stop it, or pass --base-port P to use P+1..P+${nodes}`,
  );
}
