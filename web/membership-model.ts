// What the ring panel shows of membership, derived from one poll: each member's state and share, the change in
// progress with its partitions by state, the streaming sessions that fill the new owners, and what each old
// owner removed in the cleanup. Pure: a function of the cluster view, testable without a browser.

import type { SessionProgress } from '../src/antientropy/types.js';
import type { ChangeStatus } from '../src/core/membership-status.js';
import type { ClusterDigestView, ClusterView, NodeMembershipView } from '../src/server/dashboard/types.js';

export interface MemberRow {
  readonly id: string;
  readonly state: 'joining' | 'normal' | 'leaving';
  /** Partitions in the settled ring, and once the change is done. */
  readonly owned: number;
  readonly ownedAfter: number;
  /** Records the node holds (its status), null when it did not answer. */
  readonly records: number | null;
  /** Records it removed in cleanups (moved away, grace over); null when it did not say. */
  readonly cleanedRecords: number | null;
  /** The membership epoch it has installed; null when it did not say. */
  readonly epoch: number | null;
}

export interface StreamingSession {
  /** The new owner that pulls (the session's initiator) and the old owner it streams from. */
  readonly node: string;
  readonly peer: string;
  readonly range: string;
  /** Records found missing on the puller so far, and those it pulled (the session's own progress). */
  readonly divergent: number;
  readonly pulled: number;
  readonly etaMs: number | null;
}

/** How far a joining member's partitions are filled: its records there against the fullest old copy. */
export interface FillEstimate {
  readonly held: number;
  readonly target: number;
}

export interface ChangeView extends ChangeStatus {
  readonly driver: string | null;
  /** Partitions whose streaming does not advance, and why (from the driving member). */
  readonly stalled: ReadonlyArray<{ readonly partition: number; readonly reason: string }>;
  /** Running sessions of the new owners with the old ones: the streaming itself. */
  readonly sessions: readonly StreamingSession[];
  /** A join's or replace's newcomer against its partitions' fullest copies; null when it cannot be told. */
  readonly fill: FillEstimate | null;
}

export interface MembershipView {
  readonly epoch: number;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly members: readonly MemberRow[];
  readonly change: ChangeView | null;
  /** Records removed by cleanups, summed over the nodes that said. */
  readonly cleanedRecords: number;
}

/** The membership as the serving node installed it; null when no node runs a membership service. */
function reference(cluster: ClusterView): NodeMembershipView | null {
  const self = cluster.nodes.find((n) => n.self)?.membership ?? null;
  return self ?? cluster.nodes.find((n) => n.membership != null)?.membership ?? null;
}

/**
 * Only the driving member measures the streaming rate, so its view carries the ETA and the stalls; a page
 * served by another member takes them from the driver's answer when it is at the same change.
 */
function driverView(cluster: ClusterView, ref: NodeMembershipView): NodeMembershipView {
  const driver = ref.driver;
  if (driver === null || ref.change === null) return ref;
  const theirs = cluster.nodes.find((n) => n.id === driver)?.membership ?? null;
  if (theirs?.change == null || theirs.change.sinceEpoch !== ref.change.sinceEpoch) return ref;
  return theirs;
}

/** The sessions a change's new owners run with its old owners (streaming sessions are pulled by the target). */
function streamingSessions(cluster: ClusterView, change: ChangeStatus): StreamingSession[] {
  const pullers = change.kind === 'decommission' ? null : change.member;
  const out: StreamingSession[] = [];
  for (const n of cluster.nodes) {
    for (const p of n.antiEntropy?.peers ?? []) {
      const s: SessionProgress | null = p.running;
      if (s === null || s.initiator !== n.id) continue;
      // A join or replace streams to the newcomer; a decommission streams from the leaving member.
      if (pullers !== null ? n.id !== pullers : s.peer !== change.member) continue;
      out.push({
        node: n.id,
        peer: s.peer,
        range: s.range,
        divergent: s.keysDivergent,
        pulled: s.keysPulled,
        etaMs: s.etaMs,
      });
    }
  }
  return out;
}

/** Records per partition on one node, from a digest level at least as fine as the partitions; else null. */
function perPartition(digest: ClusterDigestView, id: string, partitionBits: number): number[] | null {
  const d = digest.nodes.find((n) => n.id === id)?.digest ?? null;
  if (d === null || digest.level < partitionBits) return null;
  const out = new Array<number>(2 ** partitionBits).fill(0);
  const shift = digest.level - partitionBits;
  d.counts.forEach((c, prefix) => {
    out[prefix >>> shift] = (out[prefix >>> shift] ?? 0) + c;
  });
  return out;
}

/**
 * The newcomer's records in the partitions it takes, against the most any other member holds of each: how
 * far streaming (and the double writes) have filled it. Null without a fine enough digest level.
 */
export function fillEstimate(
  cluster: ClusterView,
  digest: ClusterDigestView | null,
  member: string,
): FillEstimate | null {
  const ring = cluster.nodes.find((n) => n.id === member)?.status?.ring;
  if (digest === null || ring === undefined) return null;
  const bits = Math.log2(ring.partitions);
  const mine = perPartition(digest, member, bits);
  if (mine === null) return null;
  const others = cluster.nodes
    .filter((n) => n.id !== member)
    .map((n) => perPartition(digest, n.id, bits))
    .filter((c): c is number[] => c !== null);
  if (others.length === 0) return null;
  let held = 0;
  let target = 0;
  for (const [first, last] of ring.owned) {
    for (let p = first; p <= last; p++) {
      held += mine[p] ?? 0;
      target += Math.max(...others.map((c) => c[p] ?? 0));
    }
  }
  return { held, target };
}

export function membershipView(
  cluster: ClusterView,
  digest: ClusterDigestView | null = null,
): MembershipView | null {
  const ref = reference(cluster);
  if (ref === null) return null;
  const members = ref.members.map((m) => {
    const node = cluster.nodes.find((n) => n.id === m.id);
    return {
      ...m,
      records: node?.status?.keys ?? null,
      cleanedRecords: node?.membership?.droppedRecords.cleanup ?? null,
      epoch: node?.membership?.epoch ?? null,
    };
  });
  const measured = driverView(cluster, ref);
  const change: ChangeView | null =
    ref.change === null
      ? null
      : {
          ...ref.change,
          etaMs: measured.change?.etaMs ?? ref.change.etaMs,
          driver: ref.driver,
          stalled: measured.stalled,
          sessions: streamingSessions(cluster, ref.change),
          fill: ref.change.kind === 'decommission' ? null : fillEstimate(cluster, digest, ref.change.member),
        };
  return {
    epoch: ref.epoch,
    partitions: ref.partitions,
    replicationFactor: ref.replicationFactor,
    members,
    change,
    cleanedRecords: members.reduce((n, m) => n + (m.cleanedRecords ?? 0), 0),
  };
}

/** Partitions past their streaming (streamed, moved or cleaned), as a share of those that move. */
export function changeFraction(change: ChangeStatus): number {
  const p = change.partitions;
  return p.total === 0 ? 1 : (p.streamed + p.moved + p.cleaned) / p.total;
}
