// The tombstone watermark per partition. A session between two members compares every partition they
// share, so the time up to which a partition's replicas are known to agree is the minimum, over every pair
// of its replicas, of the start of that pair's last successful session. A member that does not hold the
// partition never enters its minimum, so it cannot hold back that partition's purge.

import type { Topology } from './topology.js';

/** Start (ms) of the last successful session between two members, null if none (order of a, b irrelevant). */
export type PairSessionStartMs = (a: string, b: string) => number | null;

/** The partition's watermark, or null while some pair of its replicas has never completed a session. */
export function partitionWatermarkMs(
  t: Topology,
  partition: number,
  pairStartMs: PairSessionStartMs,
): number | null {
  const replicas = t.replicasOf(partition);
  let min: number | null = null;
  for (let i = 0; i < replicas.length; i++) {
    for (let j = i + 1; j < replicas.length; j++) {
      const at = pairStartMs(replicas[i]!, replicas[j]!);
      if (at === null) return null;
      min = min === null ? at : Math.min(min, at);
    }
  }
  // A single replica has no one to disagree with: nothing is pending anywhere else.
  return min ?? Number.POSITIVE_INFINITY;
}

/** The watermark of every partition a member holds, ascending by partition. */
export function ownedWatermarksMs(
  t: Topology,
  member: string,
  pairStartMs: PairSessionStartMs,
): Array<{ partition: number; watermarkMs: number | null }> {
  return t
    .ownedBy(member)
    .map((partition) => ({ partition, watermarkMs: partitionWatermarkMs(t, partition, pairStartMs) }));
}
