// Pure derivations from what the serving node reports: which replicas agree, how far each pair is apart and
// where in the keyspace they differ. No DOM here, so the node test runner checks it directly.

import type { PeerAntiEntropyState } from '../src/antientropy/types.js';
import type { ClusterDigestView, ClusterView, DigestLevelView } from '../src/server/dashboard/types.js';

export interface PairDiff {
  readonly a: string;
  readonly b: string;
  /** Both digests were fetched at the same level, so the pair can be compared. */
  readonly comparable: boolean;
  readonly rootsEqual: boolean;
  /** Indices (at the view's level) of the prefixes whose hashes differ. */
  readonly differing: readonly number[];
  /** Per differing prefix: the estimated number of differing keys under it. */
  readonly keysByPrefix: ReadonlyMap<number, number>;
  /**
   * Estimated differing keys: per differing prefix, the count gap, or 1 when counts match (a changed
   * version).
   */
  readonly keysEstimate: number;
  /** Partitions both nodes hold when they hold different ones (RF < N); null when both hold every one. */
  readonly shared: number | null;
}

/** The partitions two nodes both hold, when they do not both hold all of them (what the pair compares). */
export interface SharedRanges {
  /** log2 of the ring's partition count: a prefix at level >= bits lies in partition prefix >>> (level - bits). */
  readonly bits: number;
  readonly partitions: ReadonlySet<number>;
}

/** The partitions a node holds from its status' ring, or null when it reports none. */
export function ownedPartitions(
  cluster: ClusterView,
  id: string,
): { partitions: number; owned: Set<number> } | null {
  const ring = cluster.nodes.find((n) => n.id === id)?.status?.ring;
  if (ring === undefined) return null;
  const owned = new Set<number>();
  for (const [first, last] of ring.owned) for (let p = first; p <= last; p++) owned.add(p);
  return { partitions: ring.partitions, owned };
}

/** Whether some node holds only part of the partitions (RF < N): roots are then not comparable. */
export function partialRing(cluster: ClusterView): boolean {
  return cluster.nodes.some((n) => {
    const o = ownedPartitions(cluster, n.id);
    return o !== null && o.owned.size < o.partitions;
  });
}

/** What a pair compares: null when both hold every partition (or a ring is unknown), else the shared set. */
export function sharedRanges(cluster: ClusterView, a: string, b: string): SharedRanges | null {
  const x = ownedPartitions(cluster, a);
  const y = ownedPartitions(cluster, b);
  if (x === null || y === null || x.partitions !== y.partitions) return null;
  if (x.owned.size === x.partitions && y.owned.size === y.partitions) return null;
  const partitions = new Set([...x.owned].filter((p) => y.owned.has(p)));
  return { bits: Math.log2(x.partitions), partitions };
}

/** What two nodes said of their shared ranges on their last pings: false if either saw a difference. */
export function ringEqual(cluster: ClusterView, a: string, b: string): boolean | null {
  const said = (x: string, y: string) =>
    cluster.nodes.find((n) => n.id === x)?.status?.peers.find((p) => p.id === y)?.ring?.equal ?? null;
  const both = [said(a, b), said(b, a)];
  return both.includes(false) ? false : both.includes(true) ? true : null;
}

/** Whether the prefix `index` at `level` lies wholly in the shared partitions. */
function inShared(shared: SharedRanges, level: number, index: number): boolean {
  if (level >= shared.bits) return shared.partitions.has(index >>> (level - shared.bits));
  const span = 2 ** (shared.bits - level);
  for (let p = index * span; p < (index + 1) * span; p++) if (!shared.partitions.has(p)) return false;
  return true;
}

const hexPerHash = 16;

export function hashAt(d: DigestLevelView, index: number): string {
  return d.hashes.slice(index * hexPerHash, (index + 1) * hexPerHash);
}

/**
 * Compares two nodes' digests prefix by prefix. A lower bound in general, exact when each prefix holds one
 * difference. With `shared` (nodes holding different partitions), only the prefixes of the partitions both
 * hold are compared, and "equal roots" means those ranges are equal.
 */
export function comparePair(
  a: DigestLevelView,
  b: DigestLevelView,
  shared: SharedRanges | null = null,
): PairDiff {
  const base = {
    a: a.id,
    b: b.id,
    rootsEqual: a.root === b.root,
    shared: shared === null ? null : shared.partitions.size,
  };
  if (a.level !== b.level || a.counts.length !== b.counts.length) {
    return { ...base, comparable: false, differing: [], keysByPrefix: new Map(), keysEstimate: 0 };
  }
  const differing: number[] = [];
  const keysByPrefix = new Map<number, number>();
  let keysEstimate = 0;
  for (let i = 0; i < a.counts.length; i++) {
    if (shared !== null && !inShared(shared, a.level, i)) continue;
    if (hashAt(a, i) === hashAt(b, i) && a.counts[i] === b.counts[i]) continue;
    const keys = Math.max(1, Math.abs((a.counts[i] ?? 0) - (b.counts[i] ?? 0)));
    differing.push(i);
    keysByPrefix.set(i, keys);
    keysEstimate += keys;
  }
  const rootsEqual = shared === null ? base.rootsEqual : differing.length === 0;
  return { ...base, rootsEqual, comparable: true, differing, keysByPrefix, keysEstimate };
}

/**
 * Every unordered pair of nodes whose digest level could be fetched, in node order. With the cluster's
 * rings, a pair of nodes holding different partitions compares only those both hold, and a pair sharing
 * none is left out (there is nothing they should agree on).
 */
export function comparePairs(view: ClusterDigestView, cluster: ClusterView | null = null): PairDiff[] {
  const digests = view.nodes.flatMap((n) => (n.digest === null ? [] : [n.digest]));
  const out: PairDiff[] = [];
  for (let i = 0; i < digests.length; i++) {
    for (let j = i + 1; j < digests.length; j++) {
      const [a, b] = [digests[i]!, digests[j]!];
      const shared = cluster === null ? null : sharedRanges(cluster, a.id, b.id);
      if (shared !== null && shared.partitions.size === 0) continue;
      const pair = comparePair(a, b, shared);
      // Above the partitions' level a prefix spans partitions only one node holds, so those prefixes are
      // skipped; the nodes' own comparison of their shared ranges (on their pings) still counts.
      const told = cluster === null || shared === null ? null : ringEqual(cluster, a.id, b.id);
      out.push(told === false && pair.rootsEqual ? { ...pair, rootsEqual: false } : pair);
    }
  }
  return out;
}

export function findPair(pairs: readonly PairDiff[], x: string, y: string): PairDiff | undefined {
  return pairs.find((p) => (p.a === x && p.b === y) || (p.a === y && p.b === x));
}

export type Convergence =
  | { readonly kind: 'converged'; readonly nodes: number }
  | {
      readonly kind: 'diverging';
      /** Drift only: pairs of replicas that should agree and do not, and their estimated keys. */
      readonly keysEstimate: number;
      readonly pairs: number;
      readonly unreachable: readonly string[];
      /** Pairs with a member whose partitions are still streaming to it (a join): expected, not drift. */
      readonly streaming?: StreamingPairs;
    }
  | { readonly kind: 'unknown'; readonly unreachable: readonly string[] };

export interface StreamingPairs {
  /** The members being filled, and how many of their pairs differ (≈ keys still to stream, at most). */
  readonly members: readonly string[];
  readonly pairs: number;
  readonly keysEstimate: number;
}

/**
 * Members whose partitions are on their way in while a membership change runs: `joining` in the serving
 * node's membership (a join's newcomer, a replace's new member). Every partition such a member holds is
 * pending or streaming to it until the change is done, so its pairs differ by design, not by drift.
 */
export function incomingMembers(cluster: ClusterView): Set<string> {
  const ref =
    cluster.nodes.find((n) => n.self)?.membership ??
    cluster.nodes.find((n) => n.membership != null)?.membership ??
    null;
  if (ref == null || ref.change === null) return new Set();
  return new Set(ref.members.filter((m) => m.state === 'joining').map((m) => m.id));
}

/**
 * The headline: converged when every node answered and every pair of digests is equal. Pairs with a member
 * still being filled by a membership change are set apart (`streaming`); only the others count as drift.
 */
export function convergence(cluster: ClusterView, pairs: readonly PairDiff[]): Convergence {
  const unreachable = cluster.nodes.filter((n) => !n.reachable || n.status === null).map((n) => n.id);
  const incoming = incomingMembers(cluster);
  const differing = pairs.filter((p) => !p.rootsEqual);
  const filling = differing.filter((p) => incoming.has(p.a) || incoming.has(p.b));
  const drift = differing.filter((p) => !incoming.has(p.a) && !incoming.has(p.b));
  if (differing.length > 0) {
    const keysEstimate = drift.length === 0 ? 0 : Math.max(...drift.map((p) => p.keysEstimate));
    const streaming: StreamingPairs = {
      members: [...incoming].filter((id) => filling.some((p) => p.a === id || p.b === id)),
      pairs: filling.length,
      keysEstimate: Math.max(...filling.map((p) => p.keysEstimate), 0),
    };
    return {
      kind: 'diverging',
      keysEstimate,
      pairs: drift.length,
      unreachable,
      ...(filling.length === 0 ? {} : { streaming }),
    };
  }
  if (unreachable.length > 0) return { kind: 'unknown', unreachable };
  // Nodes holding different partitions have different roots by design: the pairs above said it all.
  const roots = new Set(cluster.nodes.map((n) => n.status?.digest.root));
  if (roots.size > 1 && !partialRing(cluster))
    return { kind: 'diverging', keysEstimate: 0, pairs: 0, unreachable };
  return { kind: 'converged', nodes: cluster.nodes.length };
}

/**
 * Groups nodes by digest root, largest group first, so the page can colour nodes that agree alike. Group 0
 * is the majority (shown as "in agreement"); ties go to the serving node's group.
 */
export function rootGroups(cluster: ClusterView): Map<string, number> {
  if (partialRing(cluster)) return rangeGroups(cluster);
  const byRoot = new Map<string, string[]>();
  for (const n of cluster.nodes) {
    const root = n.status?.digest.root;
    if (root === undefined) continue;
    byRoot.set(root, [...(byRoot.get(root) ?? []), n.id]);
  }
  const ordered = [...byRoot.entries()].sort(
    (x, y) =>
      y[1].length - x[1].length || Number(y[1].includes(cluster.self)) - Number(x[1].includes(cluster.self)),
  );
  const out = new Map<string, number>();
  ordered.forEach(([, ids], group) => {
    for (const id of ids) out.set(id, group);
  });
  return out;
}

/**
 * With RF < N: group 0 holds the nodes whose shared ranges equal every peer's (as each node reported on its
 * last ping), group 1 the nodes some peer differs from; a node without a status is in none.
 */
function rangeGroups(cluster: ClusterView): Map<string, number> {
  const differs = new Set<string>();
  for (const n of cluster.nodes) {
    for (const p of n.status?.peers ?? []) {
      if (p.ring?.equal === false) {
        differs.add(n.id);
        differs.add(p.id);
      }
    }
  }
  const out = new Map<string, number>();
  for (const n of cluster.nodes) if (n.status !== null) out.set(n.id, differs.has(n.id) ? 1 : 0);
  return out;
}

/** The anti-entropy state that node `from` keeps about peer `to`, when `from` reported one. */
export function peerState(cluster: ClusterView, from: string, to: string): PeerAntiEntropyState | undefined {
  return cluster.nodes.find((n) => n.id === from)?.antiEntropy?.peers.find((p) => p.peer === to);
}

/** With no threshold set, a pair is stale once its last successful session is this many intervals old. */
export const staleAfterIntervalsDefault = 10;

/**
 * The staleness threshold the page uses: the operator's, or staleAfterIntervalsDefault × the longest
 * interval.
 */
export function staleAfterMs(cluster: ClusterView, chosenMs: number | null): number {
  if (chosenMs !== null) return chosenMs;
  const intervals = cluster.nodes.flatMap((n) => (n.antiEntropy === null ? [] : [n.antiEntropy.intervalMs]));
  return staleAfterIntervalsDefault * Math.max(1_000, ...intervals);
}

export type Staleness =
  | { readonly kind: 'fresh' | 'stale'; readonly ageMs: number }
  | { readonly kind: 'never' }
  | { readonly kind: 'unknown' };

/**
 * How long ago a pair last completed a successful session, begun by either side (one session repairs both
 * ways): the fresher of the two nodes' reports. Unknown when neither node reports anti-entropy.
 */
export function pairStaleness(cluster: ClusterView, a: string, b: string, thresholdMs: number): Staleness {
  const reports = [peerState(cluster, a, b), peerState(cluster, b, a)].filter((s) => s !== undefined);
  if (reports.length === 0) return { kind: 'unknown' };
  const ages = reports.flatMap((s) =>
    s.lastSuccessAgeSeconds === null ? [] : [s.lastSuccessAgeSeconds * 1000],
  );
  if (ages.length === 0) return { kind: 'never' };
  const ageMs = Math.min(...ages);
  return { kind: ageMs > thresholdMs ? 'stale' : 'fresh', ageMs };
}

/** Pairs whose last successful session is older than the threshold, or that never had one. */
export function stalePairs(
  cluster: ClusterView,
  thresholdMs: number,
): Array<{ a: string; b: string; s: Staleness }> {
  const ids = cluster.nodes.map((n) => n.id);
  const out: Array<{ a: string; b: string; s: Staleness }> = [];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const s = pairStaleness(cluster, ids[i]!, ids[j]!, thresholdMs);
      if (s.kind === 'stale' || s.kind === 'never') out.push({ a: ids[i]!, b: ids[j]!, s });
    }
  }
  return out;
}
