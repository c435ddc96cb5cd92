// Who takes a key's writes, who serves its reads and whose acknowledgements count, while a membership change
// runs. A pending partition is written to its old and new owners but counted and read on the old ones; a
// streamed one counts a quorum of both (a joint quorum, as Raft's joint consensus), so a write acknowledged
// then is already on a quorum of the final owners; a moved one is the new owners' alone. A replace's dead
// member is in no set and holds back no tombstone purge.

import { tokenOf } from './hash.js';
import type { MembershipChange, MembershipState, PartitionMove } from './membership.js';
import { quorumOf } from './topology.js';

export type ConsistencyLevel = 'one' | 'quorum' | 'all';

/** One group of replicas that must acknowledge: `width` is the group's nominal size (its quorum's base). */
export interface CountingGroup {
  readonly members: readonly string[];
  readonly width: number;
}

export interface ReplicaSets {
  /** Every replica a write is sent to. */
  readonly write: readonly string[];
  /** The replicas a read asks (and read repair may write back to). */
  readonly read: readonly string[];
  /** A write succeeds when every group has the level's count of acknowledgements from its members. */
  readonly counting: readonly CountingGroup[];
  /** The members whose sessions bound the partition's tombstone purge (its watermark's members). */
  readonly watermark: readonly string[];
}

function moveOf(change: MembershipChange | null, partition: number): PartitionMove | undefined {
  // Moves are few and sorted; a binary search keeps a per-key lookup cheap on a 65,536-partition ring.
  const moves = change?.moves ?? [];
  let lo = 0;
  let hi = moves.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (moves[mid]!.partition < partition) lo = mid + 1;
    else hi = mid;
  }
  const m = moves[lo];
  return m !== undefined && m.partition === partition ? m : undefined;
}

const union = (a: readonly string[], b: readonly string[]): string[] => [
  ...a,
  ...b.filter((id) => !a.includes(id)),
];

/** Sets computed per state and partition: states are immutable, and the write path asks once per key. */
const cache = new WeakMap<MembershipState, Array<ReplicaSets | undefined>>();

/** The sets of one partition under the state's change (or the settled ring when it does not move). */
export function replicaSetsOf(s: MembershipState, partition: number): ReplicaSets {
  let sets = cache.get(s);
  if (sets === undefined) {
    sets = new Array<ReplicaSets | undefined>(s.ring.partitions);
    cache.set(s, sets);
  }
  const known = sets[partition];
  if (known !== undefined) return known;
  const computed = computeSets(s, partition);
  sets[partition] = computed;
  return computed;
}

function computeSets(s: MembershipState, partition: number): ReplicaSets {
  const move = moveOf(s.change, partition);
  if (move === undefined) {
    const owners = s.ring.replicasOf(partition);
    return {
      write: owners,
      read: owners,
      counting: [{ members: owners, width: owners.length }],
      watermark: owners,
    };
  }
  const dead = s.change!.replaced;
  const from = move.from.filter((id) => id !== dead);
  const oldGroup = { members: from, width: move.from.length };
  const newGroup = { members: move.to, width: move.to.length };
  switch (move.state) {
    case 'pending':
      return {
        write: union(from, move.to),
        read: from,
        counting: [oldGroup],
        watermark: union(from, move.to),
      };
    case 'streamed':
      return {
        write: union(from, move.to),
        read: from,
        counting: [oldGroup, newGroup],
        watermark: union(from, move.to),
      };
    case 'moved':
    case 'cleaned':
      return { write: move.to, read: move.to, counting: [newGroup], watermark: move.to };
  }
}

export function writeReplicasFor(s: MembershipState, key: Uint8Array): readonly string[] {
  return replicaSetsOf(s, s.ring.partitionOf(tokenOf(key))).write;
}

export function readReplicasFor(s: MembershipState, key: Uint8Array): readonly string[] {
  return replicaSetsOf(s, s.ring.partitionOf(tokenOf(key))).read;
}

export function countingReplicasFor(s: MembershipState, key: Uint8Array): readonly CountingGroup[] {
  return replicaSetsOf(s, s.ring.partitionOf(tokenOf(key))).counting;
}

/** Acknowledgements a group needs at a level: `all` is every member it has (a dead one is not asked). */
export function acksNeeded(group: CountingGroup, level: ConsistencyLevel): number {
  if (level === 'one') return 1;
  if (level === 'quorum') return quorumOf(group.width);
  return group.members.length;
}

/** Whether the acknowledging replicas satisfy the level in every counting group. */
export function levelMet(
  groups: readonly CountingGroup[],
  acknowledged: ReadonlySet<string>,
  level: ConsistencyLevel,
): boolean {
  return groups.every((g) => g.members.filter((id) => acknowledged.has(id)).length >= acksNeeded(g, level));
}
