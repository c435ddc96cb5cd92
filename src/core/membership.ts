// Membership changes, the pure core: a versioned membership state (an epoch, the members with their states,
// the settled ring, at most one change in progress with the partitions it moves) and the changes' beginning,
// cancelling and end. Each transition returns a new state one epoch higher and never mutates its input; the
// per-partition steps are in membership-moves.ts, the read and write sets in membership-replicas.ts.
// Invariants (checkMembership): one change at a time; a moving partition's `from` is the ring's list.

import { ConvergeError } from './errors.js';
import { type RingMember, Topology } from './topology.js';

export type ChangeKind = 'join' | 'decommission' | 'replace';
export const changeKinds: readonly ChangeKind[] = ['join', 'decommission', 'replace'];

/** pending: streaming; streamed: caught up, counted jointly; moved: new owners serve; cleaned: old dropped. */
export type MoveState = 'pending' | 'streamed' | 'moved' | 'cleaned';
export const moveStates: readonly MoveState[] = ['pending', 'streamed', 'moved', 'cleaned'];

export interface PartitionMove {
  readonly partition: number;
  /** The preference list before the change (the settled ring's). */
  readonly from: readonly string[];
  /** The preference list after it. */
  readonly to: readonly string[];
  readonly state: MoveState;
  /** When ownership moved, on the caller's clock; the cleanup grace counts from it. Null before. */
  readonly movedAtMs: number | null;
}

export interface MembershipChange {
  readonly kind: ChangeKind;
  /** join: the newcomer; decommission: the leaver; replace: the new node. */
  readonly member: string;
  /** replace only: the dead member whose replicas the new node takes. */
  readonly replaced: string | null;
  /** The membership epoch at which the change began. */
  readonly sinceEpoch: number;
  /** Ascending by partition; only partitions whose set of owners changes. */
  readonly moves: readonly PartitionMove[];
}

export interface MembershipState {
  readonly epoch: number;
  /** Every member, joining ones included, sorted by id. */
  readonly members: readonly RingMember[];
  /** The settled ring: the owners before the change (its members are all but the joining ones). */
  readonly ring: Topology;
  readonly change: MembershipChange | null;
}

export function membershipError(message: string): ConvergeError {
  return new ConvergeError('MEMBERSHIP_INVALID', `membership: ${message}`);
}

/** "join of n4 (since epoch 7, 12/192 partitions moved)": how an error names the change in progress. */
export function describeChange(change: MembershipChange): string {
  const who = change.kind === 'replace' ? `replace of ${change.replaced} by ${change.member}` : undefined;
  const moved = change.moves.filter((m) => m.state === 'moved' || m.state === 'cleaned').length;
  return (
    `${who ?? `${change.kind} of ${change.member}`} (since epoch ${change.sinceEpoch}, ` +
    `${moved}/${change.moves.length} partitions moved)`
  );
}

const byId = (a: RingMember, b: RingMember): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The membership of a ring nobody is changing: every member normal, the epoch the ring's. */
export function createMembership(ring: Topology): MembershipState {
  if (ring.members.some((m) => m.state !== 'normal')) {
    throw membershipError('a settled ring has only normal members');
  }
  return { epoch: ring.epoch, members: ring.members, ring, change: null };
}

function lists(t: Topology): string[][] {
  return Array.from({ length: t.partitions }, (_, p) => [...t.replicasOf(p)]);
}

/** The same assignment under other labels (states) and a new epoch: no replica moves. */
function relabel(ring: Topology, members: readonly RingMember[], epoch: number): Topology {
  return Topology.fromAssignment({
    members: members.filter((m) => m.state !== 'joining'),
    partitions: ring.partitions,
    replicationFactor: ring.replicationFactor,
    epoch,
    lists: lists(ring),
  });
}

function refuseIfBusy(s: MembershipState): void {
  if (s.change !== null) {
    throw new ConvergeError(
      'CHANGE_IN_PROGRESS',
      `a membership change is in progress: ${describeChange(s.change)}; one change runs at a time`,
      { kind: s.change.kind, member: s.change.member, sinceEpoch: s.change.sinceEpoch },
    );
  }
}

function refuseUnknown(s: MembershipState, id: string): void {
  if (!s.members.some((m) => m.id === id)) {
    throw new ConvergeError('MEMBER_UNKNOWN', `${id} is not a member (members: ${memberIds(s).join(', ')})`);
  }
}

function refuseExisting(s: MembershipState, id: string): void {
  if (s.members.some((m) => m.id === id))
    throw new ConvergeError('MEMBER_EXISTS', `${id} is already a member`);
}

const memberIds = (s: MembershipState): string[] => s.members.map((m) => m.id);

/** Partitions whose set of owners differs between the two assignments, as pending moves. */
function movesBetween(before: Topology, after: readonly (readonly string[])[]): PartitionMove[] {
  const moves: PartitionMove[] = [];
  for (let p = 0; p < before.partitions; p++) {
    const from = before.replicasOf(p);
    const to = after[p]!;
    const same = from.length === to.length && to.every((id) => from.includes(id));
    if (!same) moves.push({ partition: p, from: [...from], to: [...to], state: 'pending', movedAtMs: null });
  }
  return moves;
}

/** Starts a change; with nothing to move (a tiny ring) it ends at once. */
function begin(
  s: MembershipState,
  members: RingMember[],
  change: Omit<MembershipChange, 'sinceEpoch'>,
): MembershipState {
  const epoch = s.epoch + 1;
  const next: MembershipState = {
    epoch,
    members: members.sort(byId),
    ring: relabel(s.ring, members, epoch),
    change: { ...change, sinceEpoch: epoch },
  };
  return change.moves.length === 0 ? finishChange(next) : next;
}

/** A new member takes its share by the claim rule (Topology.withMembers: only the newcomer's share moves). */
export function beginJoin(s: MembershipState, id: string): MembershipState {
  refuseIfBusy(s);
  refuseExisting(s, id);
  const target = s.ring.withMembers([...memberIds(s), id]);
  const members = [...s.members, { id, state: 'joining' as const }];
  return begin(s, members, {
    kind: 'join',
    member: id,
    replaced: null,
    moves: movesBetween(s.ring, lists(target)),
  });
}

/** A member leaves: its replicas go to the others by the claim rule; it serves until its ranges moved. */
export function beginDecommission(s: MembershipState, id: string): MembershipState {
  refuseIfBusy(s);
  refuseUnknown(s, id);
  if (s.members.length === 1) throw membershipError(`${id} is the last member; it cannot be decommissioned`);
  const target = s.ring.withMembers(memberIds(s).filter((m) => m !== id));
  const members = s.members.map((m) => (m.id === id ? { id, state: 'leaving' as const } : m));
  return begin(s, members, {
    kind: 'decommission',
    member: id,
    replaced: null,
    moves: movesBetween(s.ring, lists(target)),
  });
}

/**
 * A new node takes a dead member's place in every preference list, at the same rank: exactly the dead
 * member's partitions move, streamed from the surviving replicas, and the balance is the same as before.
 */
export function beginReplace(s: MembershipState, dead: string, id: string): MembershipState {
  refuseIfBusy(s);
  refuseUnknown(s, dead);
  refuseExisting(s, id);
  if (s.ring.replicas < 2) {
    throw membershipError(
      `replacing ${dead} needs at least 2 replicas per partition: its data has no other copy`,
    );
  }
  const target = lists(s.ring).map((list) => list.map((m) => (m === dead ? id : m)));
  const members = [
    ...s.members.map((m) => (m.id === dead ? { id: dead, state: 'leaving' as const } : m)),
    { id, state: 'joining' as const },
  ];
  return begin(s, members, {
    kind: 'replace',
    member: id,
    replaced: dead,
    moves: movesBetween(s.ring, target),
  });
}

function requireChange(s: MembershipState): MembershipChange {
  if (s.change === null)
    throw new ConvergeError('NO_CHANGE_IN_PROGRESS', 'no membership change is in progress');
  return s.change;
}

/**
 * Gives up the change in progress: the ring is exactly as it was, one epoch later. Refused once a partition
 * has moved: writes since then were counted by its new owners only, so going back could lose them.
 */
export function cancelChange(s: MembershipState): MembershipState {
  const change = requireChange(s);
  const moved = change.moves.filter((m) => m.state === 'moved' || m.state === 'cleaned').length;
  if (moved > 0) {
    throw new ConvergeError(
      'CHANGE_NOT_CANCELLABLE',
      `${moved} of the ${change.moves.length} partitions of the ${describeChange(change)} have moved; ` +
        'let it finish, then make the reverse change',
    );
  }
  const gone = new Set(change.kind === 'decommission' ? [] : [change.member]);
  const members = s.members
    .filter((m) => !gone.has(m.id))
    .map((m) => ({ id: m.id, state: 'normal' as const }));
  const epoch = s.epoch + 1;
  return { epoch, members, ring: relabel(s.ring, members, epoch), change: null };
}

/** Each partition's preference list once every move of the change is done. */
export function finalLists(s: MembershipState): string[][] {
  const out = lists(s.ring);
  for (const m of s.change?.moves ?? []) out[m.partition] = [...m.to];
  return out;
}

/** The members once the change is done: the leaver or the dead member gone, everyone normal. */
export function finalMembers(s: MembershipState): RingMember[] {
  const change = s.change;
  const gone =
    change === null
      ? null
      : change.kind === 'replace'
        ? change.replaced
        : change.kind === 'decommission'
          ? change.member
          : null;
  return s.members.filter((m) => m.id !== gone).map((m) => ({ id: m.id, state: 'normal' as const }));
}

/** Installs the change's final ring; called when the last partition is cleaned (or none moves). */
export function finishChange(s: MembershipState): MembershipState {
  requireChange(s);
  const members = finalMembers(s);
  const ring = Topology.fromAssignment({
    members,
    partitions: s.ring.partitions,
    replicationFactor: s.ring.replicationFactor,
    epoch: s.epoch,
    lists: finalLists(s),
  });
  return { epoch: s.epoch, members, ring, change: null };
}
