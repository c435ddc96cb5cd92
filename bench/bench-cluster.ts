// The clusters the converge benchmark runs on: three nodes either as `converge serve` processes (one per
// node, as they are deployed) or in the benchmark's own process (LocalCluster, where the nodes and the load
// generator share one event loop). Both are driven the same way, through these few operations.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { SessionHistoryEntry } from '../src/antientropy/types.js';
import { LocalCluster } from '../src/cli/cluster.js';
import type { RawSettings } from '../src/config/config.js';

export interface NodeView {
  readonly keys: number;
  readonly root: string;
}

export interface BenchCluster {
  readonly kind: 'processes' | 'in-process';
  startAll(): Promise<void>;
  start(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  url(id: string): string;
  view(id: string): Promise<NodeView>;
  history(id: string): Promise<readonly SessionHistoryEntry[]>;
  /** Starts a session of `id` with `peer` now (`POST /antientropy/run`); resolves when it has ended. */
  runNow(id: string, peer: string): Promise<void>;
  /**
   * CPU time (user + system, all threads) the node's process has used so far, in ms; NaN in-process, where
   * the nodes share the benchmark's process.
   */
  cpuMs(id: string): number;
  /**
   * CPU ms of the node's threads at a lowered OS priority (nice above 0: the anti-entropy worker), and the ms
   * its main thread has spent runnable but waiting for a core (/proc schedstat): how much the other
   * processes on the machine held it back. NaN in-process.
   */
  threadMs(id: string): { readonly lowPriorityCpuMs: number; readonly mainWaitMs: number };
  /** Writes `n` keys of `valueBytes` at `one`, alternating between the coordinators `via`. */
  writeKeys(via: string[], n: number, valueBytes: number): Promise<void>;
  close(): Promise<void>;
}

const ids = ['n1', 'n2', 'n3'];

export function inProcessCluster(root: string, basePort: number, settings: RawSettings): BenchCluster {
  const cluster = new LocalCluster({
    nodes: ids.length,
    basePort,
    dataRoot: root,
    settings,
  });
  return {
    kind: 'in-process',
    startAll: () => cluster.startAll(),
    start: (id) => cluster.start(id),
    stop: (id) => cluster.stop(id),
    url: (id) => cluster.url(id),
    view: async (id) => {
      const replica = cluster.node(id).ctx.replica;
      return { keys: replica.digest.count(), root: replica.digest.rootHex() };
    },
    history: async (id) => cluster.node(id).ctx.antiEntropy?.status().history ?? [],
    runNow: async (id, peer) => {
      await cluster.node(id).ctx.antiEntropy?.runNow(peer);
    },
    cpuMs: () => Number.NaN,
    threadMs: () => ({ lowPriorityCpuMs: Number.NaN, mainWaitMs: Number.NaN }),
    writeKeys: async (via, n, valueBytes) => {
      const nodes = via.map((id) => cluster.node(id).ctx.node);
      const value = new Uint8Array(valueBytes).fill(0x62);
      await writeAll(n, 256, async (i, w) => {
        await nodes[w % nodes.length]!.put(`bulk-${i}`, value, 'one');
      });
    },
    close: () => cluster.close(),
  };
}

export interface ProcessOptions {
  /**
   * Write a V8 CPU profile of every node process into this folder (`node --cpu-prof`), one file per start.
   */
  readonly profileDir?: string;
  /**
   * Diagnostic only: start this node at OS priority 19 (nice), so that the scheduler serves the other
   * processes first. Nodes are never run that way; it shows how much of the foreground tail is CPU contention
   * with that node.
   */
  readonly niceNode?: string;
  /** Diagnostic only: run these nodes on these CPUs only (taskset -c), by node id. */
  readonly pins?: ReadonlyMap<string, string>;
  /** Options for the node binary of every node process (V8 flags, for example), before the script. */
  readonly nodeArgs?: readonly string[];
}

/** One `converge serve` process per node, configured by a JSON file of the same settings. */
export function processCluster(
  root: string,
  basePort: number,
  settings: RawSettings,
  options: ProcessOptions = {},
): BenchCluster {
  const urls = new Map(ids.map((id, i) => [id, `http://127.0.0.1:${basePort + i + 1}`]));
  const children = new Map<string, ChildProcess>();
  /** Starts so far by node, to name each start's CPU profile (node does not expand a pid in the name). */
  const startCounts = new Map<string, number>();
  const pools = new Map<string, Pool>();
  const pool = (id: string): Pool => {
    let p = pools.get(id);
    if (p === undefined) {
      p = new Pool(url(id), { connections: 64 });
      pools.set(id, p);
    }
    return p;
  };
  const url = (id: string): string => {
    const u = urls.get(id);
    if (u === undefined) throw new Error(`no node ${id}`);
    return u;
  };
  mkdirSync(root, { recursive: true });
  const getJson = <T>(id: string, path: string): Promise<T> => getJsonOf<T>(pool(id), url(id), path);
  const start = async (id: string): Promise<void> => {
    if (children.has(id)) throw new Error(`${id} is running`);
    const startNo = (startCounts.get(id) ?? 0) + 1;
    startCounts.set(id, startNo);
    const config = writeNodeConfig(root, id, settings, url);
    const child = spawnNode(nodeCommand(id, startNo, config, options));
    children.set(id, child);
    await listening(id, child);
  };
  const stop = async (id: string): Promise<void> => {
    const child = children.get(id);
    if (child === undefined) return;
    children.delete(id);
    await pools.get(id)?.close();
    pools.delete(id);
    await stopChild(child);
  };
  return {
    kind: 'processes',
    startAll: async () => {
      await Promise.all(ids.map((id) => start(id)));
    },
    start,
    stop,
    url,
    view: async (id) => {
      const s = await getJson<{ keys: number; digest: { root: string } }>(id, '/status');
      return { keys: s.keys, root: s.digest.root };
    },
    history: async (id) => (await getJson<{ history: SessionHistoryEntry[] }>(id, '/antientropy')).history,
    cpuMs: (id) => processCpuMs(children.get(id)?.pid),
    threadMs: (id) => processThreadMs(children.get(id)?.pid),
    runNow: async (id, peer) => postRunNow(pool(id), url(id), peer),
    writeKeys: (via, n, valueBytes) => putKeys((w) => pool(via[w % via.length]!), n, valueBytes),
    close: async () => {
      await Promise.all([...children.keys()].map((id) => stop(id)));
    },
  };
}

async function getJsonOf<T>(pool: Pool, url: string, path: string): Promise<T> {
  const res = await pool.request({ method: 'GET', path });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url}${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

/** `POST /antientropy/run`: a session with `peer` now; resolves when it has ended. */
async function postRunNow(pool: Pool, url: string, peer: string): Promise<void> {
  const res = await pool.request({ method: 'POST', path: `/antientropy/run?peer=${peer}` });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`POST ${url}/antientropy/run: ${res.statusCode} ${text}`);
}

/** Writes `n` keys of `valueBytes` at `one`, worker `w` through the pool `poolOf(w)` gives. */
async function putKeys(poolOf: (worker: number) => Pool, n: number, valueBytes: number): Promise<void> {
  const value = Buffer.alloc(valueBytes, 0x62);
  await writeAll(n, 128, async (i, w) => {
    const res = await poolOf(w).request({
      method: 'PUT',
      path: `/kv/bulk-${i}?consistency=one`,
      body: value,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`PUT bulk-${i}: ${res.statusCode} ${text}`);
  });
}

/** Writes node `id`'s JSON config file into `root` and returns its path. */
function writeNodeConfig(
  root: string,
  id: string,
  settings: RawSettings,
  url: (id: string) => string,
): string {
  const file = join(root, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      'ae-interval': '2s',
      sync: 'group',
      'leaf-bits': '16',
      ...settings,
      id,
      listen: url(id).slice('http://'.length),
      data: join(root, id),
      peers: ids.map((p) => `${p}=${url(p)}`).join(','),
    }),
  );
  return file;
}

/** The command line of the `startNo`th start of node `id`: taskset, nice and the profile as options ask. */
function nodeCommand(id: string, startNo: number, configFile: string, options: ProcessOptions): string[] {
  const profile =
    options.profileDir === undefined
      ? []
      : [
          '--cpu-prof',
          `--cpu-prof-dir=${options.profileDir}`,
          `--cpu-prof-name=${id}-start${startNo}.cpuprofile`,
        ];
  // nice(1) sets the priority before node starts, so every thread of the process inherits it.
  const nice = options.niceNode === id ? ['nice', '-n', '19'] : [];
  const cpus = options.pins?.get(id);
  return [
    ...(cpus === undefined ? [] : ['taskset', '-c', cpus]),
    ...nice,
    process.execPath,
    ...profile,
    ...(options.nodeArgs ?? []),
    'bin/converge.js',
    'serve',
    '--config',
    configFile,
  ];
}

function spawnNode(commandLine: readonly string[]): ChildProcess {
  const [command, ...args] = commandLine;
  return spawn(command!, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONVERGE_CLUSTER_SECRET: 'bench-cluster-secret-0123456789abcdef' },
  });
}

/** Resolves once the node says it is listening; rejects, with what it printed, if it exits first. */
export function listening(id: string, child: ChildProcess): Promise<void> {
  let out = '';
  return new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('listening on')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`${id} exited (${code ?? signal}): ${out}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** CPU ms (user + system) process `pid` has used so far; NaN without a process. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  // /proc/PID/stat: utime and stime are fields 14 and 15, in clock ticks (100 a second on Linux); the
  // command name (field 2) may hold spaces, so count from the closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** BenchCluster.threadMs of process `pid`, from /proc. */
function processThreadMs(pid: number | undefined): { lowPriorityCpuMs: number; mainWaitMs: number } {
  if (pid === undefined) return { lowPriorityCpuMs: Number.NaN, mainWaitMs: Number.NaN };
  let lowPriorityCpuMs = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Field 19 is the nice value.
      if (Number(fields[16]) > 0) lowPriorityCpuMs += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  // schedstat: ns on a core, ns runnable waiting for one, time slices.
  const wait = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ')[1]);
  return { lowPriorityCpuMs, mainWaitMs: wait / 1e6 };
}

async function writeAll(
  n: number,
  workers: number,
  put: (i: number, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (next < n) {
        const i = next++;
        await put(i, w);
        if (i % 10_000 === 0) process.stderr.write(`\r  ${i.toLocaleString()} written`);
      }
    }),
  );
  process.stderr.write(`\r  ${n.toLocaleString()} written\n`);
}
