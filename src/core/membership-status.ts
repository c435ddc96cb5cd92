// What `converge cluster members` and the status will show of a membership state: each member's state and
// share, and the change's progress by partition state with an estimate of the time left. Plain data (JSON
// as is), computed from the state and, for the estimate, the streaming progress the caller measured.

import type { ChangeKind, MembershipState, MoveState } from './membership.js';
import { finalLists } from './membership.js';
import type { MemberState } from './topology.js';

export interface MemberStatus {
  readonly id: string;
  readonly state: MemberState;
  /** Partitions it holds in the settled ring (before the change). */
  readonly owned: number;
  /** Partitions it will hold once the change is done. */
  readonly ownedAfter: number;
}

export interface StreamingProgress {
  /** Records still to stream for the pending partitions (an estimate: the sources' counts minus copied). */
  readonly recordsLeft: number;
  /** Streaming rate measured over the last interval, records per second. */
  readonly recordsPerSec: number;
}

export interface ChangeStatus {
  readonly kind: ChangeKind;
  readonly member: string;
  readonly replaced: string | null;
  readonly sinceEpoch: number;
  readonly partitions: Readonly<Record<MoveState, number>> & { readonly total: number };
  /** Estimated ms until every partition is streamed; null without a rate to go by. */
  readonly etaMs: number | null;
}

export interface MembershipStatus {
  readonly epoch: number;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly members: readonly MemberStatus[];
  readonly change: ChangeStatus | null;
}

/** ms left at the measured rate, rounded up; null when nothing streams (no rate yet, or stalled). */
export function streamingEtaMs(progress: StreamingProgress): number | null {
  if (progress.recordsLeft <= 0) return 0;
  if (!(progress.recordsPerSec > 0)) return null;
  return Math.ceil((progress.recordsLeft / progress.recordsPerSec) * 1000);
}

export function membershipStatus(s: MembershipState, progress?: StreamingProgress): MembershipStatus {
  const after = new Map<string, number>();
  for (const list of finalLists(s)) for (const id of list) after.set(id, (after.get(id) ?? 0) + 1);
  const members = s.members.map((m) => ({
    id: m.id,
    state: m.state,
    owned: s.ring.ownedBy(m.id).length,
    ownedAfter: after.get(m.id) ?? 0,
  }));
  const change = s.change;
  if (change === null) {
    return {
      epoch: s.epoch,
      partitions: s.ring.partitions,
      replicationFactor: s.ring.replicationFactor,
      members,
      change: null,
    };
  }
  const counts = { pending: 0, streamed: 0, moved: 0, cleaned: 0 };
  for (const m of change.moves) counts[m.state] += 1;
  return {
    epoch: s.epoch,
    partitions: s.ring.partitions,
    replicationFactor: s.ring.replicationFactor,
    members,
    change: {
      kind: change.kind,
      member: change.member,
      replaced: change.replaced,
      sinceEpoch: change.sinceEpoch,
      partitions: { ...counts, total: change.moves.length },
      etaMs: counts.pending === 0 ? 0 : progress === undefined ? null : streamingEtaMs(progress),
    },
  };
}
