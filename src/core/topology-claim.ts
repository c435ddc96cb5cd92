// The claim: which members hold the replicas of each partition. A table of `partitions x width` member
// indexes (rank order within a partition: the preference list), built deterministically from the members'
// ids and, when there is one, the previous table, so that a membership change moves few replicas.
// Invariants on return: no hole, a partition's replicas are distinct members, and every member holds
// floor or ceil of partitions x width / members replicas (the balance bound).

import { assert } from './errors.js';

/** A slot with no member yet (a new partition, a departed member, a grown replication factor). */
export const claimHole = -1;

export interface ClaimInput {
  /** Member count; members are referred to by index 0..memberCount-1 (the caller sorts them by id). */
  readonly memberCount: number;
  /** One 32-bit number per member derived from its id, to scatter ties without depending on the index. */
  readonly memberSeeds: ArrayLike<number>;
  readonly partitions: number;
  /** Replicas per partition; at most memberCount. */
  readonly width: number;
  /** Optional starting table (`partitions x width`, holes allowed, no duplicates within a partition). */
  readonly start?: Int32Array;
}

/** Fills every hole, then moves replicas from the fullest to the emptiest member until balanced. */
export function claimPartitions(input: ClaimInput): Int32Array {
  const { memberCount, partitions, width } = input;
  assert(memberCount >= 1 && width >= 1 && width <= memberCount, 'claim: 1 <= width <= members');
  assert(input.memberSeeds.length === memberCount, 'claim: one seed per member');
  const table =
    input.start === undefined ? new Int32Array(partitions * width).fill(claimHole) : input.start.slice();
  assert(table.length === partitions * width, 'claim: table shape');
  const counts = new Int32Array(memberCount);
  for (const m of table) {
    if (m === claimHole) continue;
    assert(m >= 0 && m < memberCount, 'claim: member index in range');
    counts[m]! += 1;
  }
  fillHoles(input, table, counts);
  balance(input, table, counts);
  balanceHeads(input, table);
  return table;
}

function holds(table: Int32Array, width: number, partition: number, member: number): boolean {
  const at = partition * width;
  for (let r = 0; r < width; r++) if (table[at + r] === member) return true;
  return false;
}

/** A cheap integer mix (murmur3's finaliser): the tie-break score of a member for a partition. */
function score(seed: number, partition: number): number {
  let h = (seed ^ Math.imul(partition + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Rank by rank (all first replicas, then all second ones, ...), each hole takes the member holding the fewest
 * replicas among those not already in the partition; ties go to the higher score, then the lower index.
 * Filling the first rank this way also spreads the first replicas (the preference lists' heads) evenly.
 */
function fillHoles(input: ClaimInput, table: Int32Array, counts: Int32Array): void {
  const { memberCount, partitions, width, memberSeeds } = input;
  // mark[m] === p + 1 while member m is in partition p: an O(1) membership test on the hot loop.
  const mark = new Int32Array(memberCount);
  for (let r = 0; r < width; r++) {
    for (let p = 0; p < partitions; p++) {
      if (table[p * width + r] !== claimHole) continue;
      for (let k = 0; k < width; k++) {
        const m = table[p * width + k]!;
        if (m !== claimHole) mark[m] = p + 1;
      }
      let best = -1;
      let bestScore = 0;
      for (let m = 0; m < memberCount; m++) {
        if (mark[m] === p + 1) continue;
        const s = score(memberSeeds[m]!, p);
        if (best === -1 || counts[m]! < counts[best]! || (counts[m] === counts[best] && s > bestScore)) {
          best = m;
          bestScore = s;
        }
      }
      // A partition holds fewer than width <= memberCount members while it has a hole, so one is free.
      assert(best !== -1, 'claim: a member is free for every hole');
      table[p * width + r] = best;
      counts[best]! += 1;
    }
  }
}

/**
 * While the fullest member holds two or more replicas than the emptiest, hand one of its partitions that the
 * emptiest lacks over to it (same rank). Such a partition exists: the fullest is in more partitions than the
 * emptiest. Each move lowers the sum of squared counts, so the loop ends, and each move goes from a member
 * above the mean to one below it, so a join or a leave moves no more replicas than the balance needs.
 * A cursor per giving member makes successive scans resume where the last one stopped (linear overall, and
 * the partitions handed over are spread across the ring instead of bunched at its start).
 */
function balance(input: ClaimInput, table: Int32Array, counts: Int32Array): void {
  const { memberCount, partitions, width } = input;
  const cursors = new Int32Array(memberCount);
  for (;;) {
    let full = 0;
    let empty = 0;
    for (let m = 1; m < memberCount; m++) {
      if (counts[m]! > counts[full]!) full = m;
      if (counts[m]! < counts[empty]!) empty = m;
    }
    if (counts[full]! - counts[empty]! <= 1) return;
    let moved = false;
    for (let step = 0; step < partitions && !moved; step++) {
      const p = (cursors[full]! + step) % partitions;
      if (holds(table, width, p, empty)) continue;
      for (let r = 0; r < width; r++) {
        if (table[p * width + r] !== full) continue;
        table[p * width + r] = empty;
        counts[full]! -= 1;
        counts[empty]! += 1;
        cursors[full] = (p + 1) % partitions;
        moved = true;
        break;
      }
    }
    assert(moved, 'claim: the fullest member holds a partition the emptiest lacks');
  }
}

/**
 * Evens out the first replicas (where a coordinator that prefers the head sends its work) by swapping ranks
 * inside a partition: no replica moves. Best effort: a swap needs the two members in one partition, so the
 * heads end within one of each other when such swaps exist (always with RF = N), close to it otherwise.
 */
function balanceHeads(input: ClaimInput, table: Int32Array): void {
  const { memberCount, partitions, width } = input;
  if (width < 2) return;
  const heads = new Int32Array(memberCount);
  for (let p = 0; p < partitions; p++) heads[table[p * width]!]! += 1;
  // Every swap lowers the sum of squared head counts, so the passes end.
  for (let swapped = true; swapped; ) {
    swapped = false;
    for (let p = 0; p < partitions; p++) {
      const at = p * width;
      const head = table[at]!;
      let best = -1;
      for (let r = 1; r < width; r++) {
        const m = table[at + r]!;
        if (heads[head]! - heads[m]! >= 2 && (best === -1 || heads[m]! < heads[table[at + best]!]!)) best = r;
      }
      if (best === -1) continue;
      const m = table[at + best]!;
      table[at] = m;
      table[at + best] = head;
      heads[head]! -= 1;
      heads[m]! += 1;
      swapped = true;
    }
  }
}

/** Replicas placed in `next` that `previous` did not have on the same partition: the data a change moves. */
export function replicasMoved(
  previous: ReadonlyArray<ReadonlyArray<string>>,
  next: ReadonlyArray<ReadonlyArray<string>>,
): number {
  assert(previous.length === next.length, 'replicasMoved: same partition count');
  let moved = 0;
  for (let p = 0; p < next.length; p++) {
    const before = new Set(previous[p]);
    for (const id of next[p]!) if (!before.has(id)) moved += 1;
  }
  return moved;
}
