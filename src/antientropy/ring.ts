// What anti-entropy takes from the ring: which peers it runs sessions with, which partitions a session with
// each covers, and the per-partition tombstone purge bounds. With every partition shared (RF = N) a session
// has no scope at all, so it walks the tree from the root exactly as before partitions.

import type { ReconcileScope } from '../core/reconciler.js';
import { partitionRuns, partitionsDefault, replicationFactorMax, Topology } from '../core/topology.js';
import { LiveTopology } from '../core/topology-describe.js';

/**
 * The ring a node builds when none is given: itself and its peers, every member holding every partition
 * (RF = N), as before the ring. A node without a ring replicates every key to every member (NodeOptions),
 * so its anti-entropy must cover every key too; the composition root passes the configured ring to both.
 */
export function defaultTopology(self: string, peers: readonly string[], leafBits: number): LiveTopology {
  const members = [self, ...peers.filter((p) => p !== self)];
  return new LiveTopology(
    Topology.create({
      members,
      // A digest coarser than the default P (tests use small ones) gets one partition per leaf.
      partitions: Math.min(partitionsDefault, 2 ** leafBits),
      replicationFactor: Math.min(Math.max(members.length, 1), replicationFactorMax),
      leafBits,
    }),
  );
}

/** What one session with `peer` covers: the shared partitions, and the scope to reconcile them. */
export interface SessionRange {
  readonly epoch: number;
  readonly partitions: readonly number[];
  /** Undefined when every partition is shared: the session walks the whole tree from the root. */
  readonly scope: ReconcileScope | undefined;
  /**
   * A streaming session of a membership change (a new owner catching up from a source): the partitions this
   * node takes records of although the ring does not give them to it yet. Absent for ordinary sessions.
   */
  readonly receiving?: ReadonlySet<number>;
}

export function sessionRange(t: Topology, self: string, peer: string): SessionRange {
  const partitions = t.sharedPartitions(self, peer);
  const scope =
    partitions.length === t.partitions ? undefined : { level: t.partitionBits, indexes: partitions };
  return { epoch: t.epoch, partitions, scope };
}

/**
 * What a streaming session covers: the named partitions (ascending, distinct), whoever holds them, under the
 * membership change's epoch (a checkpoint stays good while the change runs, whatever the ring's epoch does).
 */
export function streamingRange(t: Topology, partitions: readonly number[], epoch: number): SessionRange {
  const sorted = [...new Set(partitions)].sort((a, b) => a - b);
  return {
    epoch,
    partitions: sorted,
    scope: { level: t.partitionBits, indexes: sorted },
    receiving: new Set(sorted),
  };
}

/** The `range` text names this many runs at most (`ranges` has them all). */
export const rangeRunsShownMax = 8;

/** How history entries and progress show a session's range. */
export function describeRange(r: SessionRange): {
  range: string;
  partitions: number;
  ranges: Array<[number, number]>;
} {
  const ranges = partitionRuns(r.partitions);
  const shown = ranges.slice(0, rangeRunsShownMax).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  if (ranges.length > rangeRunsShownMax) shown.push(`+${ranges.length - rangeRunsShownMax} more runs`);
  const range = r.scope === undefined ? 'all' : shown.join(',');
  return { range, partitions: r.partitions.length, ranges };
}

/** Partition purge bounds as runs [first, last, ms] of consecutive partitions with one bound. */
export type BoundRuns = Array<[number, number, number]>;

export function boundRuns(partitions: readonly number[], boundOf: (p: number) => number): BoundRuns {
  const runs: BoundRuns = [];
  for (const p of partitions) {
    const ms = boundOf(p);
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === p - 1 && last[2] === ms) last[1] = p;
    else runs.push([p, p, ms]);
  }
  return runs;
}

/**
 * A peer's bounds for the partitions it shares with this node, from its message: its runs when it sent
 * them, else its one `purgedBeforeMs` for each shared partition (an older node, which holds every key).
 * Malformed runs are ignored, not trusted: a bound too high would purge what a replica still lacks.
 */
export function peerBounds(
  msg: { purgedBeforeMs?: unknown; purgeBoundsMs?: unknown },
  shared: readonly number[],
): Map<number, number> {
  const out = new Map<number, number>();
  if (Array.isArray(msg.purgeBoundsMs)) {
    for (const run of msg.purgeBoundsMs as unknown[]) {
      if (!Array.isArray(run) || run.length !== 3 || !run.every((v) => Number.isFinite(v))) continue;
      const [first, last, ms] = run as [number, number, number];
      // Only the shared partitions inside the run: a run's length costs nothing whatever it claims.
      for (const p of shared) if (p >= first && p <= last) out.set(p, ms);
    }
    return out;
  }
  if (typeof msg.purgedBeforeMs === 'number') for (const p of shared) out.set(p, msg.purgedBeforeMs);
  return out;
}
