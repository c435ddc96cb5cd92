// Evidence the scenarios read from the live cluster: key counts and digest roots, which replicas hold which
// keys, what each replica applied by which path, the sessions that ran, and timed writes. Everything a story
// states comes from here, measured in that run.

import type { SessionHistoryEntry } from '../../antientropy/types.js';
import type { Consistency } from '../../cluster/node-types.js';
import { replicationRoute } from '../../cluster/replication-channel.js';
import { keyToBytes } from '../../core/record.js';
import type { RunningNode } from '../../server/server.js';
import type { LocalCluster } from '../cluster.js';
import { type Narrator, plural } from './narrate.js';

/** How long a story waits for anti-entropy to converge the replicas before its check fails. */
export const healMs = 30_000;
/** How long replication in flight after a burst may take to settle (a request times out well before). */
const settleMsMax = 10_000;
const settleQuietMs = 200;

export interface ReplicaFacts {
  readonly id: string;
  readonly keys: number;
  readonly root: string;
}

export function replicaFacts(cluster: LocalCluster): ReplicaFacts[] {
  return [...cluster.running.values()].map((r) => ({
    id: r.ctx.config.id,
    keys: r.ctx.replica.digest.count(),
    root: r.ctx.replica.digest.rootHex(),
  }));
}

/** Every replica's key count and digest root, one line each, marking those that differ from the majority. */
export function showRoots(n: Narrator, cluster: LocalCluster, label: string): void {
  const rows = cluster.configs.map((c) => {
    const r = cluster.running.get(c.id);
    return { id: c.id, keys: r?.ctx.replica.digest.count(), root: r?.ctx.replica.digest.rootHex() };
  });
  const counts = new Map<string, number>();
  for (const r of rows) if (r.root !== undefined) counts.set(r.root, (counts.get(r.root) ?? 0) + 1);
  const top = Math.max(0, ...counts.values());
  for (const r of rows) {
    if (r.root === undefined || r.keys === undefined) {
      n.detail(`${r.id}  (stopped)`);
      continue;
    }
    const keys = n.figure(`${label}.${r.id}.keys`, r.keys).padStart(5);
    const minority = top === 1 || (counts.get(r.root) ?? 0) < top;
    const mark = counts.size > 1 && minority ? '  ← differs' : '';
    n.detail(`${r.id}  keys ${keys}  digest ${r.root}${mark}`);
  }
}

export function converged(cluster: LocalCluster): boolean {
  const roots = [...cluster.running.values()].map((r) => r.ctx.replica.digest.rootHex());
  return roots.length === cluster.configs.length && new Set(roots).size === 1;
}

/** No anti-entropy session is running on any node. */
export function sessionsIdle(cluster: LocalCluster): boolean {
  return [...cluster.running.values()].every(
    (r) => r.ctx.antiEntropy?.status().peers.every((p) => p.running === null) ?? true,
  );
}

/**
 * Holds every node's anti-entropy schedule and waits for running sessions to end, so counts taken now stay
 * true while the story shows them; healAndAccount() resumes the schedule.
 */
export async function holdAntiEntropy(cluster: LocalCluster): Promise<void> {
  await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.pause()));
  await until(() => sessionsIdle(cluster), healMs);
}

export async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await pause(50);
  }
  return true;
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Records a replica applied from each path, per node: what moved the data, counted where it landed. */
export function appliedBy(cluster: LocalCluster): Map<string, { replication: number; antiEntropy: number }> {
  const out = new Map<string, { replication: number; antiEntropy: number }>();
  for (const [id, r] of cluster.running) {
    const replica = r.ctx.replica;
    out.set(id, {
      replication: replica.appliedFrom('replication'),
      antiEntropy: replica.appliedFrom('anti-entropy') + replica.appliedFrom('bulk'),
    });
  }
  return out;
}

/**
 * Waits until no replication request is in flight from any node and nothing more arrives for a moment: after
 * a burst at `one`, replication goes on in the background, and counting before it ends would count too
 * little.
 */
export async function settleReplication(cluster: LocalCluster): Promise<void> {
  const inFlight = (): number =>
    [...cluster.running.values()].reduce((sum, r) => {
      for (const c of r.ctx.node.ctx.channels.values()) sum += c.pendingRecords;
      return sum;
    }, 0);
  const applied = (): number => [...appliedBy(cluster).values()].reduce((s, a) => s + a.replication, 0);
  const deadline = Date.now() + settleMsMax;
  let last = -1;
  while (Date.now() < deadline) {
    const now = applied();
    if (inFlight() === 0 && now === last) return;
    last = now;
    await pause(settleQuietMs);
  }
}

/** How many of `keys` the replica of `id` holds (live or deleted: any record counts). */
export function holding(cluster: LocalCluster, id: string, keys: readonly string[]): number {
  const replica = cluster.node(id).ctx.replica;
  return keys.reduce((k, key) => k + (replica.get(keyToBytes(key)) === undefined ? 0 : 1), 0);
}

export interface WriteRun {
  readonly keys: string[];
  readonly acknowledged: number;
  readonly failed: number;
  /** Each write's latency as the client saw it, in write order. */
  readonly latenciesMs: number[];
}

/** Writes `count` keys `${prefix}-0001`… through `node`, `parallel` at a time, timing each. */
export async function writeKeys(
  node: RunningNode,
  prefix: string,
  count: number,
  consistency: Consistency,
  parallel = 50,
): Promise<WriteRun> {
  const keys: string[] = [];
  const latenciesMs: number[] = [];
  let acknowledged = 0;
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) => {
      const key = `${prefix}-${String(i + j + 1).padStart(4, '0')}`;
      keys.push(key);
      const started = performance.now();
      return node.ctx.node
        .put(key, new TextEncoder().encode(`${key} via ${node.ctx.config.id}`), consistency)
        .finally(() => latenciesMs.push(performance.now() - started));
    });
    for (const r of await Promise.allSettled(batch)) if (r.status === 'fulfilled') acknowledged += 1;
  }
  return { keys, acknowledged, failed: count - acknowledged, latenciesMs };
}

export function percentileMs(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round((sorted[at] ?? 0) * 10) / 10;
}

/** Sessions that ended since `sinceMs` and did not find the pair equal, as their initiators recorded them. */
export function sessionsSince(cluster: LocalCluster, sinceMs: number): SessionHistoryEntry[] {
  const out: SessionHistoryEntry[] = [];
  for (const r of cluster.running.values()) {
    for (const h of r.ctx.antiEntropy?.status().history ?? []) {
      if (h.startedAtMs >= sinceMs && h.result !== 'converged' && h.initiator === r.ctx.config.id)
        out.push(h);
    }
  }
  return out.sort((a, b) => a.endedAtMs - b.endedAtMs);
}

export function describeSession(h: SessionHistoryEntry): string {
  if (h.result !== 'repaired')
    return `session ${h.initiator}→${h.peer}: ${h.result}${h.error ? ` (${h.error})` : ''}`;
  const moved = `${h.keysPulled} pulled, ${h.keysPushed} pushed`;
  const cost = `${plural(h.roundTrips, 'round trip')}, ${h.bytesSent + h.bytesReceived} bytes, ${h.durationMs} ms`;
  return `session ${h.initiator}→${h.peer}: ${plural(h.keysDivergent, 'divergent key')}, ${moved}, ${cost}`;
}

/**
 * Reads, at consistency one, a key that `freshId` holds and `staleId` lacks, through each of them, and shows
 * both answers. True when the stale read was shown: the stale replica answered "not found", without an error.
 */
export async function showStaleRead(
  n: Narrator,
  cluster: LocalCluster,
  staleId: string,
  freshId: string,
  keys: readonly string[],
): Promise<boolean> {
  const fresh = cluster.node(freshId);
  const stale = cluster.node(staleId);
  const key = keys.find((k) => {
    const b = keyToBytes(k);
    return fresh.ctx.replica.get(b) !== undefined && stale.ctx.replica.get(b) === undefined;
  });
  if (key === undefined) {
    n.detail(`no key is on ${freshId} and missing on ${staleId}: there is no stale read to show`);
    return false;
  }
  const fromStale = await stale.ctx.node.get(key, 'one');
  const fromFresh = await fresh.ctx.node.get(key, 'one');
  const value = fromFresh.value === undefined ? '' : ` “${new TextDecoder().decode(fromFresh.value)}”`;
  n.detail(
    `read “${key}” at consistency one through ${staleId}: ${fromStale.found ? 'found' : 'not found'}, no error`,
  );
  n.detail(`the same read through ${freshId}: ${fromFresh.found ? `found${value}` : 'not found'}`);
  return !fromStale.found && fromFresh.found;
}

/** "n1 200, n2 178, n3 0": how many of `keys` each running replica holds, recorded as figures. */
export function holdingLine(
  n: Narrator,
  cluster: LocalCluster,
  keys: readonly string[],
  label: string,
): Map<string, number> {
  const held = new Map([...cluster.running.keys()].map((id) => [id, holding(cluster, id, keys)]));
  n.detail(
    `of these ${keys.length} keys, ${[...held].map(([id, k]) => `${id} holds ${n.figure(`${label}.${id}`, k)}`).join(', ')}`,
  );
  return held;
}

/**
 * What a coordinator's replication lost so far, per peer: the replication messages the injected loss dropped,
 * and the records in failed messages by the failure's code (an injected drop fails as UNAVAILABLE, a message
 * that took too long as TIMEOUT). A message carries many records, so one drop loses many writes.
 */
export interface ReplicationLossCounters {
  readonly injectedMessages: Map<string, number>;
  readonly failedRecords: Map<string, Readonly<Record<string, number>>>;
}

export async function lossCounters(
  cluster: LocalCluster,
  coordinator: string,
): Promise<ReplicationLossCounters> {
  const r = cluster.node(coordinator);
  const peers = cluster.configs.filter((c) => c.id !== coordinator).map((c) => c.id);
  const channels = r.ctx.node.ctx.channels;
  return {
    injectedMessages: new Map(peers.map((id) => [id, r.ctx.faults.randomlyDropped(replicationRoute, id)])),
    failedRecords: new Map(peers.map((id) => [id, { ...(channels.get(id)?.counters.failedRecords ?? {}) }])),
  };
}

/**
 * Explains, for each replica other than the coordinator that did not receive every write by replication, how
 * many writes the injected loss took and how many failed otherwise: whatever the cause, the counts are what
 * happened. `received` counts the records each replica applied from replication during the burst.
 */
export async function explainLosses(
  n: Narrator,
  cluster: LocalCluster,
  coordinator: string,
  written: number,
  received: ReadonlyMap<string, number>,
  before: ReplicationLossCounters,
  cutOff: readonly string[],
): Promise<void> {
  const now = await lossCounters(cluster, coordinator);
  let any = false;
  for (const [id, got] of received) {
    if (id === coordinator || cutOff.includes(id) || got >= written) continue;
    any = true;
    const delta = (code: string): number =>
      (now.failedRecords.get(id)?.[code] ?? 0) - (before.failedRecords.get(id)?.[code] ?? 0);
    const messages = (now.injectedMessages.get(id) ?? 0) - (before.injectedMessages.get(id) ?? 0);
    const injected = messages > 0 ? delta('UNAVAILABLE') : 0;
    const other = written - got - injected;
    const parts = [
      injected > 0
        ? `${n.figure(`loss.${id}.injected`, injected)} in the ${n.figure(`loss.${id}.messages`, messages)} ` +
          'replication messages the injected loss dropped'
        : null,
      other > 0
        ? `${n.figure(`loss.${id}.other`, other)} for another reason (timed out under the burst’s load)`
        : null,
    ].filter((p) => p !== null);
    n.detail(
      `${id} received ${n.figure(`received.${id}`, got)} of the ${written} writes by replication; ` +
        `${coordinator}’s other sends to it were lost: ${parts.join(', ')}.`,
    );
  }
  if (any) {
    n.detail(
      `At consistency one, ${coordinator} acknowledges a write once it holds it and sends it on in the background, ` +
        'many writes to a message; a message that fails is not sent again (hinted handoff, which would, is off).',
    );
  }
}

/** Records each replica applied from replication between two appliedBy() readings. */
export function receivedBetween(
  before: ReadonlyMap<string, { replication: number }>,
  after: ReadonlyMap<string, { replication: number }>,
): Map<string, number> {
  return new Map([...after].map(([id, a]) => [id, a.replication - (before.get(id)?.replication ?? 0)]));
}
