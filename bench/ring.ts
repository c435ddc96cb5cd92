// `npm run bench -- ring [--json] [--quick]`: the partitioned ring as deployed, one `converge serve` process
// per node. Five nodes with RF 3 beside three nodes with full replication (RF 3 = N), same workload:
// - storage share: each node's keys over all keys, against RF/N (target: within 10% of it);
// - one node stopped while more keys are written (hints and read repair off), then restarted: the keys it
//   missed (those of its partitions), the records anti-entropy sessions moved after the restart (exactly the
//   missed ones when sessions stay in the ranges two nodes share), and the time from the restart until the
//   node holds its keys and every node reports its shared ranges equal.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { SessionHistoryEntry } from '../src/antientropy/types.js';
import { keyToBytes } from '../src/core/record.js';
import { Topology } from '../src/core/topology.js';
import type { NodeStatus } from '../src/services/status.js';
import { listening } from './bench-cluster.js';
import { Report, type Row } from './report.js';

const leafBits = 16;

interface Ring {
  readonly ids: readonly string[];
  start(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  status(id: string): Promise<NodeStatus>;
  /** Runs sessions of `id` with every peer now; resolves with them once they ended. */
  runNow(id: string): Promise<SessionHistoryEntry[]>;
  put(id: string, key: string, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** The node's config file: the ring's values, hints and read repair off, sessions only when asked. */
function writeConfig(
  root: string,
  id: string,
  url: (id: string) => string,
  ids: readonly string[],
  rf: number,
): string {
  const file = join(root, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id,
      listen: url(id).slice('http://'.length),
      data: join(root, id),
      peers: ids.map((p) => `${p}=${url(p)}`).join(','),
      'leaf-bits': String(leafBits),
      'replication-factor': String(rf),
      sync: 'none',
      // Sessions only when the benchmark asks (POST /antientropy/run), so the shares are the write path's.
      'ae-interval': '24h',
      hints: false,
      'read-repair': false,
      'log-level': 'warn',
    }),
  );
  return file;
}

function processRing(root: string, basePort: number, nodes: number, rf: number): Ring {
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const url = (id: string): string => `http://127.0.0.1:${basePort + ids.indexOf(id) + 1}`;
  const children = new Map<string, ChildProcess>();
  const pools = new Map(ids.map((id) => [id, new Pool(url(id), { connections: 32 })]));
  mkdirSync(root, { recursive: true });
  const request = async (id: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: Uint8Array) => {
    const res = await pools.get(id)!.request({ method, path, ...(body === undefined ? {} : { body }) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${method} ${url(id)}${path}: ${res.statusCode} ${text}`);
    return text;
  };
  const start = async (id: string): Promise<void> => {
    const file = writeConfig(root, id, url, ids, rf);
    const child = spawn(process.execPath, ['bin/converge.js', 'serve', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONVERGE_CLUSTER_SECRET: 'bench-ring-secret-0123456789abcdef' },
    });
    children.set(id, child);
    await listening(id, child);
  };
  const stop = async (id: string): Promise<void> => {
    const child = children.get(id);
    children.delete(id);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
  return {
    ids,
    start,
    stop,
    status: async (id) => JSON.parse(await request(id, 'GET', '/status')) as NodeStatus,
    runNow: async (id) =>
      (JSON.parse(await request(id, 'POST', '/antientropy/run')) as { sessions: SessionHistoryEntry[] })
        .sessions,
    put: async (id, key, value) => {
      await request(id, 'PUT', `/kv/${key}?consistency=quorum`, value);
    },
    close: async () => {
      await Promise.all(ids.map(stop));
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function writeRange(ring: Ring, via: readonly string[], from: number, count: number): Promise<void> {
  const value = new Uint8Array(100).fill(0x72);
  let next = from;
  const worker = async (w: number): Promise<void> => {
    while (next < from + count) {
      const i = next++;
      await ring.put(via[(i + w) % via.length]!, `ring-${i}`, value);
    }
  };
  await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
}

/** Keys of [from, from + count) held by `id` in the ring. */
function keysHeldBy(t: Topology, id: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) if (t.replicasForKey(keyToBytes(`ring-${i}`)).includes(id)) n++;
  return n;
}

async function measure(nodes: number, rf: number, keys: number, missed: number): Promise<Row> {
  const root = mkdtempSync(join(tmpdir(), 'converge-bench-ring-'));
  const ring = processRing(root, 21_000 + Math.floor(Math.random() * 80) * 100, nodes, rf);
  const topology = Topology.create({ members: ring.ids, replicationFactor: rf, leafBits });
  const copies = Math.min(rf, nodes);
  try {
    await Promise.all(ring.ids.map((id) => ring.start(id)));
    await writeRange(ring, ring.ids, 0, keys);
    const total = async (): Promise<number[]> =>
      Promise.all(ring.ids.map(async (id) => (await ring.status(id)).keys));
    await until(
      async () => (await total()).reduce((a, b) => a + b, 0) === copies * keys,
      60_000,
      'replication',
    );
    const shares = (await total()).map((k) => k / keys);
    const target = copies / nodes;
    const worst = Math.max(...shares.map((s) => Math.abs(s - target) / target));
    // One node misses writes: stopped, keys written at quorum meanwhile, restarted.
    const down = ring.ids[ring.ids.length - 1]!;
    await ring.stop(down);
    const up = ring.ids.filter((id) => id !== down);
    await writeRange(ring, up, keys, missed);
    const missedHere = keysHeldBy(topology, down, keys, missed);
    const expected = keysHeldBy(topology, down, 0, keys + missed);
    const restartedAtMs = Date.now();
    await ring.start(down);
    await until(async () => (await ring.status(down)).digest.ready, 60_000, `${down}'s digest`);
    const sessions = await ring.runNow(down);
    const moved = sessions.reduce((n, h) => n + h.keysPulled + h.keysPushed, 0);
    const held = (await ring.status(down)).keys;
    await until(
      async () => {
        const all = await Promise.all(ring.ids.map((id) => ring.status(id)));
        return all.every((s) => s.peers.every((p) => p.ring?.equal === true));
      },
      120_000,
      'every range converged',
    );
    const convergedMs = Date.now() - restartedAtMs;
    return {
      case: `${nodes} nodes, RF ${rf}`,
      keys,
      shareTarget: target,
      shareMin: Math.min(...shares),
      shareMax: Math.max(...shares),
      worstDeviationPercent: worst * 100,
      missed: missedHere,
      movedAfterRestart: moved,
      heldAfter: held,
      shouldHold: expected,
      restartToConvergedMs: convergedMs,
    };
  } finally {
    await ring.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const keys = args.includes('--quick') ? 5_000 : 20_000;
  const report = new Report(json);
  for (const [nodes, rf] of [
    [5, 3],
    [3, 3],
  ] as const) {
    report.add(await measure(nodes, rf, keys, keys / 10));
  }
  report.print([
    'case',
    'keys',
    'shareTarget',
    'shareMin',
    'shareMax',
    'worstDeviationPercent',
    'missed',
    'movedAfterRestart',
    'heldAfter',
    'shouldHold',
    'restartToConvergedMs',
  ]);
}
