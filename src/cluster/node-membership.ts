// The node's side of membership changes: the header check of every internal request (a forked state is
// refused, a replicated write coordinated under a membership older than this replica's last move is fenced)
// and the peers following the installed membership (a new member gets its replication channel, hints and
// pings; a departed one's hints are dropped and counted).

import { ConvergeError } from '../core/errors.js';
import { tokenOf } from '../core/hash.js';
import type { MembershipState } from '../core/membership.js';
import { type ReplicaSets, replicaSetsOf } from '../core/membership-replicas.js';
import type { Topology } from '../core/topology.js';
import type { LiveTopology } from '../core/topology-describe.js';
import type { HintStore } from './hints.js';
import { parseMembershipHeader } from './membership-record.js';
import type { PeerConfig } from './node-types.js';
import { replicationRoute } from './replication-channel.js';

/** What the node takes from the membership service (membership-service.ts). */
export interface NodeMembership {
  /** `epoch.fingerprint` of the installed state: sent with every request and ping answer. */
  header(): string;
  /** Replicated writes coordinated under an epoch below this one are refused. */
  fenceEpoch(): number;
  observe(peer: string, header: string | undefined): void;
  onPingFailed(peer: string): void;
  addressOf(id: string): string | undefined;
  current(): MembershipState;
  /** Fetches a peer's membership and installs it when it is later than this node's. */
  catchUp(peer: string): Promise<void>;
}

/** The routes that carry replicated writes: fenced by the membership epoch they were coordinated under. */
const fencedRoutes: ReadonlySet<string> = new Set(['replicate', 'hint', 'repair', replicationRoute]);

/**
 * Checks an internal request's membership header. Pings and the membership routes pass (they are how a
 * member that is behind, or a joiner with no state, catches up).
 */
export function checkMembershipRequest(
  m: NodeMembership,
  self: string,
  route: string,
  from: string | undefined,
  text: string | undefined,
): void {
  // Without a header (a tool, a test speaking to /internal/ by hand) nothing is compared, as before rings.
  if (text === undefined || route === 'ping' || route.startsWith('membership/')) return;
  const theirs = parseMembershipHeader(text);
  const who = from ?? 'the sender';
  if (theirs === null) {
    throw new ConvergeError(
      'RING_MISMATCH',
      `ring mismatch: ${who} sends no membership header (an older converge, or no membership); ` +
        `this node (${self}) is at membership ${m.header()}`,
      { field: 'fingerprint' },
    );
  }
  if (from !== undefined) m.observe(from, text);
  const mine = parseMembershipHeader(m.header())!;
  if (theirs.epoch === mine.epoch && theirs.fingerprint !== mine.fingerprint) {
    throw new ConvergeError(
      'RING_MISMATCH',
      `ring mismatch: ${who} has another membership at epoch ${mine.epoch} (fingerprint ` +
        `${theirs.fingerprint}, this node ${mine.fingerprint}): started with other --peers, ` +
        '--partitions or --replication-factor? (see GET /cluster/members on both)',
      { field: 'fingerprint' },
    );
  }
  if (fencedRoutes.has(route) && theirs.epoch < m.fenceEpoch()) {
    throw new ConvergeError(
      'MEMBERSHIP_STALE',
      `${who} coordinated this write at membership epoch ${theirs.epoch}; ${self} has installed a ` +
        `partition move at epoch ${m.fenceEpoch()} (fenced: fetch the membership and retry)`,
      { epoch: theirs.epoch, fenceEpoch: m.fenceEpoch() },
    );
  }
}

/** The counting groups and read set of a key while a change moves its partition; undefined otherwise. */
export function changeSetsFor(m: NodeMembership, key: Uint8Array): ReplicaSets | undefined {
  const s = m.current();
  if (s.change === null) return undefined;
  const p = s.ring.partitionOf(tokenOf(key));
  const sets = replicaSetsOf(s, p);
  // A partition that does not move has one group: the ring's own count applies (as when settled).
  return sets.counting.length === 1 && sets.read === sets.write ? undefined : sets;
}

export interface PeerTables {
  readonly self: string;
  /** The node's peer list (ctx.peers): changed in place. */
  readonly peers: PeerConfig[];
  readonly hints: HintStore | undefined;
  addChannel(peer: string): void;
  removeChannel(peer: string): void;
  addSeen(peer: string): void;
  removeSeen(peer: string): void;
  warn?(line: string): void;
}

/** Makes the node's peers the members of `next` (every member but this one); returns who came and went. */
export function followMembers(
  t: PeerTables,
  next: Topology,
  addressOf: (id: string) => string | undefined,
): { added: string[]; removed: string[] } {
  const members = new Set(next.members.map((m) => m.id).filter((id) => id !== t.self));
  const removed = t.peers.filter((p) => !members.has(p.id)).map((p) => p.id);
  const known = new Set(t.peers.map((p) => p.id));
  const added = [...members].filter((id) => !known.has(id));
  for (const id of removed) {
    t.peers.splice(
      t.peers.findIndex((p) => p.id === id),
      1,
    );
    t.removeChannel(id);
    t.removeSeen(id);
    dropHints(t, id);
  }
  for (const id of added) {
    t.peers.push({ id, url: addressOf(id) ?? '' });
    t.addChannel(id);
    t.addSeen(id);
    t.hints?.addPeer(id);
  }
  return { added, removed };
}

/** Keeps the node's peers equal to the installed members, now and on every later install. */
export function followMembership(m: NodeMembership, topology: LiveTopology, tables: PeerTables): void {
  const follow = (next: Topology): void => {
    followMembers(tables, next, (id) => m.addressOf(id));
    // A replace's dead member is in no replica set from the start: its hints can never be delivered.
    // (After a cancel it is a replica again, and its hints are kept again.)
    const dead = m.current().change?.replaced ?? null;
    for (const p of tables.peers) if (p.id !== dead) tables.hints?.addPeer(p.id);
    if (dead !== null) dropHints(tables, dead);
  };
  follow(topology.current);
  topology.subscribe(follow);
}

/** Deletes (and counts) the hints kept for a member that will never take them; logged when there were any. */
function dropHints(t: PeerTables, id: string): void {
  void t.hints?.removePeer(id).then(
    (n) => n > 0 && t.warn?.(`dropped ${n} hints for ${id}: it is no longer a replica of anything`),
    (err: unknown) => t.warn?.(`dropping the hints for ${id} failed: ${String(err)}`),
  );
}
