// The invariants of a membership state, checked where a state comes from outside the transitions (read back
// from storage, received from a peer): the transitions keep them by construction, a decoded state must prove
// them. A violation is MEMBERSHIP_INVALID naming the first broken rule.

import {
  type MembershipChange,
  type MembershipState,
  membershipError,
  type PartitionMove,
} from './membership.js';
import type { MemberState, RingMember } from './topology.js';

function checkMembers(s: MembershipState): void {
  if (s.members.length === 0) throw membershipError('no members');
  for (let i = 1; i < s.members.length; i++) {
    if (!(s.members[i - 1]!.id < s.members[i]!.id))
      throw membershipError('members are not sorted by id, once each');
  }
  const inRing = s.members.filter((m) => m.state !== 'joining');
  const ring = s.ring.members;
  const same =
    ring.length === inRing.length &&
    ring.every((m, i) => m.id === inRing[i]!.id && m.state === inRing[i]!.state);
  if (!same) throw membershipError("the ring's members are not the members that are not joining");
  if (!Number.isSafeInteger(s.epoch) || s.epoch < s.ring.epoch) {
    throw membershipError(`epoch ${s.epoch} is below the ring's ${s.ring.epoch}`);
  }
}

/** The state each member must have under the change (or none: every member normal). */
function expectedStates(change: MembershipChange | null): Map<string, MemberState> {
  const want = new Map<string, MemberState>();
  if (change === null) return want;
  if (change.kind === 'join') want.set(change.member, 'joining');
  if (change.kind === 'decommission') want.set(change.member, 'leaving');
  if (change.kind === 'replace') {
    if (change.replaced === null || change.replaced === change.member) {
      throw membershipError('a replace names a dead member other than the new one');
    }
    want.set(change.member, 'joining');
    want.set(change.replaced, 'leaving');
  } else if (change.replaced !== null) {
    throw membershipError(`a ${change.kind} names no replaced member`);
  }
  return want;
}

function checkStates(s: MembershipState): void {
  const want = expectedStates(s.change);
  const ids = new Set(s.members.map((m) => m.id));
  for (const id of want.keys())
    if (!ids.has(id)) throw membershipError(`the change names ${id}, not a member`);
  for (const m of s.members) {
    const state = want.get(m.id) ?? 'normal';
    if (m.state !== state)
      throw membershipError(`member ${m.id} is ${m.state}, the change makes it ${state}`);
  }
  if (s.change?.kind === 'decommission' && s.members.length < 2)
    throw membershipError('the last member leaves');
}

function checkMove(
  s: MembershipState,
  move: PartitionMove,
  finalIds: ReadonlySet<string>,
  width: number,
): void {
  const p = move.partition;
  const ring = s.ring.replicasOf(p);
  if (move.from.length !== ring.length || move.from.some((id, i) => id !== ring[i])) {
    throw membershipError(`partition ${p}: the old owners are not the ring's`);
  }
  if (
    move.to.length !== width ||
    new Set(move.to).size !== width ||
    move.to.some((id) => !finalIds.has(id))
  ) {
    throw membershipError(
      `partition ${p}: the new owners are not ${width} distinct members of the final ring`,
    );
  }
  if (move.to.length === move.from.length && move.to.every((id) => move.from.includes(id))) {
    throw membershipError(`partition ${p}: the owners do not change`);
  }
  const moved = move.state === 'moved' || move.state === 'cleaned';
  const at = move.movedAtMs;
  if (moved !== (at !== null) || (at !== null && (!Number.isSafeInteger(at) || at < 0))) {
    throw membershipError(`partition ${p}: a move time is set exactly when it moved (${move.state}, ${at})`);
  }
  const dead = s.change!.replaced;
  if (
    s.change!.kind === 'replace' &&
    move.to.some((id, i) => id !== (move.from[i] === dead ? s.change!.member : move.from[i]))
  ) {
    throw membershipError(`partition ${p}: a replace puts the new member in the dead one's place only`);
  }
}

function finalMemberIds(s: MembershipState, change: MembershipChange): Set<string> {
  const gone = change.kind === 'join' ? null : change.kind === 'replace' ? change.replaced : change.member;
  return new Set(s.members.map((m: RingMember) => m.id).filter((id) => id !== gone));
}

function checkChange(s: MembershipState, change: MembershipChange): void {
  if (!Number.isSafeInteger(change.sinceEpoch) || change.sinceEpoch > s.epoch || change.sinceEpoch < 0) {
    throw membershipError(`the change began at epoch ${change.sinceEpoch}, after the state's ${s.epoch}`);
  }
  if (change.moves.length === 0) throw membershipError('a change in progress moves at least one partition');
  if (change.moves.every((m) => m.state === 'cleaned'))
    throw membershipError('a finished change is still open');
  const finalIds = finalMemberIds(s, change);
  const width = Math.min(s.ring.replicationFactor, finalIds.size);
  let last = -1;
  for (const move of change.moves) {
    if (!Number.isInteger(move.partition) || move.partition <= last || move.partition >= s.ring.partitions) {
      throw membershipError(
        `moves are not ascending partitions below ${s.ring.partitions} (${move.partition})`,
      );
    }
    last = move.partition;
    checkMove(s, move, finalIds, width);
  }
  if (change.kind === 'replace') {
    const moving = new Set(change.moves.map((m) => m.partition));
    const left = s.ring.ownedBy(change.replaced!).filter((p) => !moving.has(p));
    if (left.length > 0)
      throw membershipError(`partition ${left[0]} still lists the dead ${change.replaced}`);
  }
}

/** Throws MEMBERSHIP_INVALID unless the state keeps every invariant the transitions keep. */
export function checkMembership(s: MembershipState): MembershipState {
  checkMembers(s);
  checkStates(s);
  if (s.change !== null) checkChange(s, s.change);
  return s;
}
