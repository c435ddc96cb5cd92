// Which members a membership change waits for, and who takes it over: a member down for long (past the
// takeover limit) holds back no move, and the change of a driver down that long falls to the lowest normal
// member still up. Each member judges from its own view (failed pings); the majority reservation of every
// epoch (membership-proposals.ts) keeps two judgements from both acting.

import type { MembershipState } from '../core/membership.js';

/**
 * The lowest epoch every member has installed (the dead member of a replace never will, and is not asked;
 * nor are `gone` members, down for longer than the takeover limit: a dead member coordinates no write).
 */
export function installedEverywhere(
  s: MembershipState,
  installed: ReadonlyMap<string, number>,
  gone: ReadonlySet<string> = new Set(),
): number {
  let low = s.epoch;
  for (const m of s.members) {
    if (m.id === s.change?.replaced || gone.has(m.id)) continue;
    low = Math.min(low, installed.get(m.id) ?? 0);
  }
  return low;
}

/**
 * The member that takes over a change whose driver is unreachable: the lowest id among the normal members
 * this node believes up (each member decides from its own view; should two decide differently, the majority
 * reservation lets one of them through). Null: none.
 */
export function takeoverCandidate(
  s: MembershipState,
  down: ReadonlySet<string>,
  driver: string,
): string | null {
  const ids = s.members
    .filter((m) => m.state === 'normal' && m.id !== driver && !down.has(m.id) && m.id !== s.change?.replaced)
    .map((m) => m.id)
    .sort();
  return ids[0] ?? null;
}

/** Since when each member believed down has been so, pass after pass. */
export class DownTimes {
  private readonly since = new Map<string, number>();

  /** The members down now that have been so for at least `limitMs`. */
  downFor(down: ReadonlySet<string>, nowMs: number, limitMs: number): Set<string> {
    for (const id of [...this.since.keys()]) if (!down.has(id)) this.since.delete(id);
    for (const id of down) if (!this.since.has(id)) this.since.set(id, nowMs);
    return new Set([...this.since].filter(([, t]) => nowMs - t >= limitMs).map(([id]) => id));
  }
}
