// Helpers of the membership process tests: `converge serve` processes on loopback that can be killed and
// restarted, a batch loader, a steady quorum write load, and the placement and readability checks.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenOf } from '../src/core/hash.js';
import { keyToBytes } from '../src/core/record.js';
import { Topology } from '../src/core/topology.js';
import type { NodeStatus } from '../src/services/status.js';
import { eventually, http, killed, spawnServe } from './helpers.js';

export const partitions = 64;
export const replicationFactor = 3;

export interface ProcessCluster {
  url(id: string): string;
  urls(ids: readonly string[]): string[];
  /** Starts the first members (each names the others in --peers). */
  startAll(ids: readonly string[]): Promise<void>;
  /** Starts (or restarts) one node with extra arguments (--join URL, --replace ID). */
  start(id: string, extra?: readonly string[]): Promise<void>;
  /** SIGKILL, awaited. */
  kill(id: string): Promise<void>;
  close(): Promise<void>;
}

export function processCluster(
  basePort: number,
  count: number,
  extra: readonly string[] = [],
): ProcessCluster {
  const root = mkdtempSync(join(tmpdir(), 'converge-membership-'));
  const port = (id: string): number => basePort + Number(id.slice(1));
  const url = (id: string): string => `http://127.0.0.1:${port(id)}`;
  const children = new Map<string, ChildProcess>();
  let peers = '';
  const args = (id: string): string[] => [
    ...['--id', id, '--listen', `127.0.0.1:${port(id)}`, '--data', join(root, id)],
    ...[
      '--peers',
      peers,
      '--partitions',
      String(partitions),
      '--replication-factor',
      String(replicationFactor),
    ],
    ...['--sync', 'none', '--ae-interval', '1s', '--log-level', 'warn'],
    ...['--membership-cleanup-grace', '1s', '--membership-tick', '200ms'],
    ...extra,
  ];
  const start = async (id: string, more: readonly string[] = []): Promise<void> => {
    assert.ok(!children.has(id), `${id} runs already`);
    children.set(id, await spawnServe([...args(id), ...more]));
  };
  assert.ok(count < 10);
  return {
    url,
    urls: (ids) => ids.map(url),
    async startAll(ids) {
      peers = ids.map((id) => `${id}=${url(id)}`).join(',');
      for (const id of ids) await start(id);
    },
    start,
    async kill(id) {
      const child = children.get(id);
      children.delete(id);
      child?.kill('SIGKILL');
      if (child !== undefined) await killed(child);
    },
    async close() {
      for (const c of children.values()) c.kill('SIGKILL');
      await Promise.all([...children.values()].map(killed));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Writes `count` keys `prefix-i` at quorum through POST /kv batches; returns the keys acknowledged. */
export async function loadKeys(urls: readonly string[], prefix: string, count: number): Promise<string[]> {
  const batch = 500;
  const keys: string[] = [];
  const send = async (from: number): Promise<void> => {
    const names = Array.from({ length: Math.min(batch, count - from) }, (_, i) => `${prefix}-${from + i}`);
    const body = names.map((key) => JSON.stringify({ key, value: `v:${key}` })).join('\n');
    const res = await http('POST', `${urls[(from / batch) % urls.length]}/kv?consistency=quorum`, body);
    assert.equal(res.status, 200, res.body);
    const r = res.json as { failed: number };
    assert.equal(r.failed, 0, res.body.slice(0, 400));
    keys.push(...names);
  };
  for (let from = 0; from < count; from += 4 * batch) {
    await Promise.all(
      [0, 1, 2, 3]
        .map((i) => from + i * batch)
        .filter((f) => f < count)
        .map(send),
    );
  }
  return keys;
}

export interface LoadResult {
  readonly acked: string[];
  /** Writes that still failed after the retries. */
  readonly failed: number;
  /** Writes whose first attempt failed (then retried). */
  readonly retried: number;
  readonly errors: string[];
}

/**
 * A steady write load (new keys, quorum, 3 writers) through `urls` until stopped. A refused write is tried
 * again, as a client would, at most 3 more times, and counted: the tests expect none.
 */
export function writeLoad(urls: readonly string[], prefix: string): { stop(): Promise<LoadResult> } {
  let stopped = false;
  let retried = 0;
  const acked: string[] = [];
  const errors: string[] = [];
  const put = async (key: string, via: string): Promise<string | null> => {
    const res = await http('PUT', `${via}/kv/${key}?consistency=quorum`, `v:${key}`).catch((err: Error) => ({
      status: 0,
      body: err.message,
    }));
    return res.status === 200 ? null : `${key}: ${res.status} ${res.body.slice(0, 1200)}`;
  };
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const key = `${prefix}-${w}-${i}`;
      let error = await put(key, urls[(w + i) % urls.length]!);
      if (error !== null) retried += 1;
      for (let attempt = 1; error !== null && attempt <= 3; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
        error = await put(key, urls[(w + i + attempt) % urls.length]!);
      }
      if (error === null) acked.push(key);
      else errors.push(error);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const loops = [0, 1, 2].map(loop);
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return { acked, failed: errors.length, retried, errors: errors.slice(0, 5) };
    },
  };
}

const status = async (url: string): Promise<NodeStatus> =>
  (await http('GET', `${url}/status`)).json as NodeStatus;

/** The keys per partition, for the counts each member should hold once the change is done. */
function perPartition(keys: readonly string[]): number[] {
  const t = Topology.create({ members: ['x'], partitions, replicationFactor: 1 });
  const counts = new Array<number>(partitions).fill(0);
  for (const k of keys) counts[t.partitionOf(tokenOf(keyToBytes(k)))]! += 1;
  return counts;
}

/**
 * Every member holds exactly the keys of the partitions it owns (so nothing is left where a partition moved
 * away, after the cleanup grace), the counts sum to RF x keys, and the `gone` nodes (stopped or left) hold
 * nothing they still answer for.
 */
export async function assertPlaced(
  c: ProcessCluster,
  ids: readonly string[],
  keys: readonly string[],
  gone: readonly string[] = [],
): Promise<void> {
  const per = perPartition(keys);
  let seen = '';
  await eventually(
    async () => {
      const all = await Promise.all(c.urls(ids).map(status));
      const counts = all.map((s) => s.keys);
      const owned = all.map((s) => (s.ring?.owned ?? []).reduce((n, [a, b]) => n + b - a + 1, 0));
      seen = ids.map((id, i) => `${id}: ${counts[i]} keys, ${owned[i]} partitions`).join('; ');
      const expected = expectedCounts(all, per);
      return (
        counts.reduce((a, b) => a + b, 0) === replicationFactor * keys.length &&
        expected.every((n, i) => n === counts[i])
      );
    },
    60_000,
    `the members to hold ${replicationFactor} x ${keys.length} keys, each its own partitions'`,
  ).catch((err: Error) => assert.fail(`${err.message}: ${seen}`));
  for (const id of gone) {
    const s = await status(c.url(id)).catch(() => null);
    if (s !== null) assert.equal(s.keys, 0, `${id} left the ring and holds ${s.keys} keys`);
  }
}

function expectedCounts(all: readonly NodeStatus[], counts: readonly number[]): number[] {
  return all.map((s) =>
    (s.ring?.owned ?? []).reduce((n, [a, b]) => {
      let sum = n;
      for (let p = a; p <= b; p++) sum += counts[p] ?? 0;
      return sum;
    }, 0),
  );
}

/** Every key reads back at quorum through `url` (a failed read is retried: a loaded machine times out). */
export async function assertReadable(url: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 200) {
    const slice = keys.slice(i, i + 200);
    await Promise.all(
      slice.map(async (key) => {
        for (let attempt = 0; ; attempt++) {
          const res = await http('GET', `${url}/kv/${key}?consistency=quorum`);
          if (res.status === 200 || attempt >= 5) {
            assert.equal(res.status, 200, `GET ${key}: ${res.status} ${res.body}`);
            assert.equal(res.body, `v:${key}`);
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }),
    );
  }
}
