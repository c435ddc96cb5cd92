// The rules gossip will follow to spread the membership state (the wiring is not built): members advertise
// (epoch, fingerprint) in their pings, a member behind fetches and adopts the peer's state, and the driver's
// `await-epoch` step reads the lowest epoch every member reports. One total order, so every member keeps the
// same state whatever order the messages arrive in: the higher epoch, then (two drivers having begun
// different changes at one epoch) the higher fingerprint.

import { hash64 } from './hash.js';
import type { MembershipState } from './membership.js';
import { encodeMembership } from './membership-codec.js';

/** 16 hex digits over the canonical encoding: equal fingerprints mean the same state. */
export function membershipFingerprint(s: MembershipState): string {
  const [hi, lo] = hash64(encodeMembership(s), 0x6d656d62n); // 'memb'
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export interface MembershipHeader {
  readonly epoch: number;
  readonly fingerprint: string;
}

export function membershipHeader(s: MembershipState): MembershipHeader {
  return { epoch: s.epoch, fingerprint: membershipFingerprint(s) };
}

/** Negative when `a` comes before `b`, positive after, 0 for the same state. */
export function compareMembershipHeaders(a: MembershipHeader, b: MembershipHeader): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  return a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0;
}

/** Whether a peer advertising `remote` holds a state this member should fetch and adopt. */
export function shouldAdopt(local: MembershipHeader, remote: MembershipHeader): boolean {
  return compareMembershipHeaders(remote, local) > 0;
}

/** Of two states, the one every member keeps (the later in the order above). */
export function laterMembership(a: MembershipState, b: MembershipState): MembershipState {
  return compareMembershipHeaders(membershipHeader(a), membershipHeader(b)) >= 0 ? a : b;
}

/**
 * The lowest epoch installed on every member, from the epochs they last reported (a member that has not
 * reported counts as 0: a joiner must have installed the change before anything moves).
 */
export function installedEpochOf(s: MembershipState, reported: ReadonlyMap<string, number>): number {
  let min = Number.POSITIVE_INFINITY;
  for (const m of s.members) {
    // A replace's dead member will never report: it is not waited for.
    if (m.id === s.change?.replaced) continue;
    min = Math.min(min, reported.get(m.id) ?? 0);
  }
  return min === Number.POSITIVE_INFINITY ? s.epoch : min;
}
