// `npm run bench -- join [--json] [--quick] [--concurrency N] [--no-stream]
// [--cpu-prof DIR]`: a 4th `converge serve` process joins a 3-node cluster (RF 3)
// holding 20,000 keys while a steady quorum write load runs. Measured in the same run:
// - the join's streaming rate: the records the joiner's sessions pulled, over the time those sessions ran
//   (first start to last end), against the raw lmdb put rate (target at least 0.5x); and the change's own
//   rate: the records of the joiner's partitions over the time from the change's start until no partition
//   is pending (planning, digest measurements, the verification round and the moves included);
// - foreground quorum writes that failed during the join (target 0);
// - the foreground p99 latency during the join against the p99 before it (same load, same nodes).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { AntiEntropyStatus } from '../src/antientropy/types.js';
import type { MembersView } from '../src/cluster/membership-api.js';
import { tokenOf } from '../src/core/hash.js';
import { keyToBytes } from '../src/core/record.js';
import { Topology } from '../src/core/topology.js';
import type { NodeStatus } from '../src/services/status.js';
import { listening } from './bench-cluster.js';
import { rawLmdbPutsPerSecond } from './raw-lmdb.js';
import { Report } from './report.js';

const partitions = 64;
const valueBytes = 100;

interface Cluster {
  start(id: string, extra?: readonly string[]): Promise<void>;
  get(id: string, path: string): Promise<unknown>;
  /** A request's status and body; never throws (a failed connection is status 0). */
  send(id: string, method: 'PUT' | 'POST', path: string, body: string): Promise<[number, string]>;
  url(id: string): string;
  close(): Promise<void>;
}

function cluster(
  root: string,
  basePort: number,
  streaming: readonly string[],
  profileDir: string | undefined,
): Cluster {
  const url = (id: string): string => `http://127.0.0.1:${basePort + Number(id.slice(1))}`;
  const peers = ['n1', 'n2', 'n3'].map((id) => `${id}=${url(id)}`).join(',');
  const children: ChildProcess[] = [];
  const pools = new Map<string, Pool>();
  const pool = (id: string): Pool => {
    if (!pools.has(id)) pools.set(id, new Pool(url(id), { connections: 16 }));
    return pools.get(id)!;
  };
  const send = async (id: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: string) => {
    try {
      const res = await pool(id).request({ method, path, ...(body === undefined ? {} : { body }) });
      return [res.statusCode, await res.body.text()] as [number, string];
    } catch (err) {
      return [0, String(err)] as [number, string];
    }
  };
  return {
    url,
    async start(id, extra = []) {
      const args = [
        ...['--id', id, '--listen', url(id).slice('http://'.length), '--data', join(root, id)],
        ...['--peers', peers, '--partitions', String(partitions), '--replication-factor', '3'],
        ...['--sync', 'none', '--ae-interval', '5s', '--log-level', 'warn'],
        ...['--membership-cleanup-grace', '1s', '--membership-tick', '200ms'],
        ...streaming,
        ...extra,
      ];
      // `--cpu-prof DIR`: each node writes a CPU profile there when it exits (SIGTERM at the end).
      const prof = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
      const child = spawn(process.execPath, [...prof, 'bin/converge.js', 'serve', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      await listening(id, child);
    },
    async get(id, path) {
      const [status, text] = await send(id, 'GET', path);
      if (status !== 200) throw new Error(`GET ${url(id)}${path}: ${status} ${text}`);
      return JSON.parse(text) as unknown;
    },
    send,
    async close() {
      for (const c of children) c.kill(profileDir === undefined ? 'SIGKILL' : 'SIGTERM');
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? undefined
            : new Promise((resolve) => c.once('exit', resolve)),
        ),
      );
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function preload(c: Cluster, keys: number): Promise<void> {
  const value = 'x'.repeat(valueBytes);
  const batch = 500;
  for (let from = 0; from < keys; from += batch) {
    const lines = [];
    for (let i = from; i < Math.min(keys, from + batch); i++)
      lines.push(JSON.stringify({ key: `join-${i}`, value }));
    const [status, text] = await c.send(
      `n${((from / batch) % 3) + 1}`,
      'POST',
      '/kv?consistency=quorum',
      lines.join('\n'),
    );
    if (status !== 200 || (JSON.parse(text) as { failed: number }).failed > 0)
      throw new Error(`preload: ${status} ${text.slice(0, 300)}`);
  }
}

interface Load {
  /** Latencies (ms) and failures since the last mark; starts a new window. */
  mark(): { latenciesMs: number[]; failed: number; written: number };
  stop(): Promise<void>;
}

/** Quorum writes of new keys by `writers` loops through n1..n3, paced at one per `pauseMs` each. */
function foreground(c: Cluster, writers: number, pauseMs: number): Load {
  let stopped = false;
  let latencies: number[] = [];
  let failed = 0;
  const value = 'y'.repeat(valueBytes);
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const t0 = performance.now();
      const [status] = await c.send(
        `n${((w + i) % 3) + 1}`,
        'PUT',
        `/kv/fg-${w}-${i}?consistency=quorum`,
        value,
      );
      if (status === 200) latencies.push(performance.now() - t0);
      else failed += 1;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const loops = Array.from({ length: writers }, (_, w) => loop(w));
  return {
    mark() {
      const out = { latenciesMs: latencies, failed, written: latencies.length };
      latencies = [];
      failed = 0;
      return out;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

function p99(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

/** The preloaded keys in the partitions `owned` names (runs [first, last]). */
function keysIn(owned: ReadonlyArray<readonly [number, number]>, keys: number): number {
  const t = Topology.create({ members: ['x'], partitions, replicationFactor: 1 });
  const mine = new Set<number>();
  for (const [a, b] of owned) for (let p = a; p <= b; p++) mine.add(p);
  let n = 0;
  for (let i = 0; i < keys; i++) if (mine.has(t.partitionOf(tokenOf(keyToBytes(`join-${i}`))))) n++;
  return n;
}

/**
 * The joiner's sessions that brought it records (its streaming sessions, and any repair session that pulled
 * some): the records they pulled, and the time at least one of them ran (the union of their intervals: a
 * verification's catch-up session seconds later adds its own run time, not the gap before it).
 */
function sessionsThatPulled(ae: AntiEntropyStatus) {
  const pulled = ae.history.filter((h) => h.keysPulled > 0);
  const spans = pulled.map((h) => [h.startedAtMs, h.endedAtMs] as const).sort((a, b) => a[0] - b[0]);
  let ms = 0;
  let until = Number.NEGATIVE_INFINITY;
  for (const [start, end] of spans) {
    ms += Math.max(0, end - Math.max(start, until));
    until = Math.max(until, end);
  }
  return {
    count: pulled.length,
    streaming: pulled.filter((h) => h.streaming === true).length,
    records: pulled.reduce((n, h) => n + h.keysPulled, 0),
    ms: pulled.length === 0 ? Number.NaN : ms,
    detail: pulled.map((h) => ({
      peer: h.peer,
      streaming: h.streaming === true,
      byPeer: h.initiator !== 'n4',
      roundTrips: h.roundTrips,
      startMs: h.startedAtMs - (spans[0]?.[0] ?? 0),
      durationMs: h.durationMs,
      pulled: h.keysPulled,
    })),
  };
}

async function joinRun(c: Cluster, keys: number, beforeMs: number) {
  const members = async (): Promise<MembersView> => (await c.get('n1', '/cluster/members')) as MembersView;
  const load = foreground(c, 4, 5);
  try {
    await new Promise((resolve) => setTimeout(resolve, beforeMs));
    const before = load.mark();
    await c.start('n4', ['--join', c.url('n1')]);
    await until(async () => (await members()).change?.member === 'n4', 60_000, 'the join to begin');
    const startedMs = performance.now();
    await until(async () => (await members()).change?.partitions.pending === 0, 600_000, 'streaming');
    const streamingMs = performance.now() - startedMs;
    await until(async () => (await members()).change === null, 600_000, 'the join to finish');
    const during = load.mark();
    const n4 = (await c.get('n4', '/status')) as NodeStatus;
    const streamed = keysIn(n4.ring?.owned ?? [], keys);
    const sessions = sessionsThatPulled((await c.get('n4', '/antientropy')) as AntiEntropyStatus);
    return { before, during, streamed, streamingMs, sessions };
  } finally {
    await load.stop();
  }
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const keys = args.includes('--quick') ? 5_000 : 20_000;
  const root = mkdtempSync(join(tmpdir(), 'converge-bench-join-'));
  // `--concurrency N`: the driver's streaming sessions at once (--membership-streaming-concurrency).
  const at = args.indexOf('--concurrency');
  const concurrency = at >= 0 ? ['--membership-streaming-concurrency', args[at + 1] ?? '2'] : [];
  // `--no-stream`: the ordinary sessions alone, without the streaming fast path (for comparison).
  const oldPath = args.includes('--no-stream');
  const streaming = [...concurrency, ...(oldPath ? ['--ae-stream-page-records-max', '0'] : [])];
  const prof = args.indexOf('--cpu-prof');
  const profileDir = prof >= 0 ? args[prof + 1] : undefined;
  const c = cluster(root, 21_000 + Math.floor(Math.random() * 80) * 100, streaming, profileDir);
  try {
    const rawPerSecond = await rawLmdbPutsPerSecond(root, 'none', keys, valueBytes, 64);
    for (const id of ['n1', 'n2', 'n3']) await c.start(id);
    await preload(c, keys);
    const r = await joinRun(c, keys, 5_000);
    // The streaming rate: records the joiner's sessions pulled over the time those sessions ran. The change's
    // own time (its start to no partition pending) also holds the planning, verification and moves.
    const rate = r.sessions.records / (r.sessions.ms / 1000);
    const report = new Report(json);
    report.add({
      case:
        `join of n4 into 3 nodes, RF 3, ${keys} keys${at >= 0 ? `, ${concurrency[1]} sessions` : ''}` +
        (oldPath ? ', no fast path' : ''),
      recordsInJoinerPartitions: r.streamed,
      recordsStreamed: r.sessions.records,
      sessions: r.sessions.count,
      streamingSessions: r.sessions.streaming,
      streamingMs: Math.round(r.sessions.ms),
      streamingPerSecond: Math.round(rate),
      changeStreamedMs: Math.round(r.streamingMs),
      changePerSecond: Math.round(r.streamed / (r.streamingMs / 1000)),
      rawPutsPerSecond: Math.round(rawPerSecond),
      streamingOverRaw: rate / rawPerSecond,
      fgWritesBefore: r.before.written,
      fgWritesDuring: r.during.written,
      fgFailedBefore: r.before.failed,
      fgFailedDuring: r.during.failed,
      fgP99BeforeMs: p99(r.before.latenciesMs),
      fgP99DuringMs: p99(r.during.latenciesMs),
      // Each session that pulled: peer, streaming (s) or repair (r), `<` when the peer began it, start from the
      // first (ms), duration, records, round trips.
      sessionsDetail: r.sessions.detail
        .map(
          (d) =>
            `${d.peer}/${d.streaming ? 's' : 'r'}${d.byPeer ? '<' : ''}@${d.startMs}+${d.durationMs}:${d.pulled}` +
            `/${d.roundTrips}rt`,
        )
        .join(' '),
    });
    report.print([
      'case',
      'recordsStreamed',
      'streamingMs',
      'streamingPerSecond',
      'changeStreamedMs',
      'changePerSecond',
      'rawPutsPerSecond',
      'streamingOverRaw',
      'fgFailedDuring',
      'fgP99BeforeMs',
      'fgP99DuringMs',
    ]);
  } finally {
    await c.close();
    rmSync(root, { recursive: true, force: true });
  }
}
