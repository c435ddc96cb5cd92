// The majority reservation of a membership epoch: before a member installs a new epoch it asks every member
// to reserve that epoch for it, and installs only if a majority did. Two members can therefore never both
// install the same epoch (two majorities share a member, which reserves for one proposer at a time): that is
// the fencing between two would-be drivers. Kinds: `begin` (a new change; refused while one runs), `step`
// (the driver's next state; only from the member recorded as driver), `cancel` (from any member), and
// `takeover` (another member becomes driver; refused by a member that still reaches the driver).

import { ConvergeError } from '../core/errors.js';
import { describeChange, type MembershipState } from '../core/membership.js';
import { quorumOf } from '../core/topology.js';

export type ProposalKind = 'begin' | 'step' | 'cancel' | 'takeover';
export const proposalKinds: readonly ProposalKind[] = ['begin', 'step', 'cancel', 'takeover'];

export interface Proposal {
  readonly kind: ProposalKind;
  readonly epoch: number;
  readonly fingerprint: string;
  readonly what: string;
  /** The proposing member (the driver of the change once the epoch is installed). */
  readonly driver: string;
}

export interface Reservation extends Proposal {
  readonly untilMs: number;
}

/** What a member judges a proposal by. */
export interface ProposalContext {
  readonly self: string;
  readonly state: MembershipState;
  /** The member recorded as driving the change in progress. */
  readonly driver: string | null;
  readonly down: ReadonlySet<string>;
  readonly reservation: Reservation | null;
  readonly nowMs: number;
}

function stale(message: string): ConvergeError {
  return new ConvergeError('MEMBERSHIP_STALE', message);
}

function inProgress(s: MembershipState, driver: string | null, why: string): ConvergeError {
  const change = s.change!;
  return new ConvergeError(
    'CHANGE_IN_PROGRESS',
    `a membership change is in progress: ${describeChange(change)}, driven by ${driver ?? 'an unknown member'}` +
      `; ${why}`,
    { kind: change.kind, member: change.member, sinceEpoch: change.sinceEpoch },
  );
}

/** Throws the reason a member refuses to reserve `p`'s epoch; returns when it may. */
export function checkProposal(ctx: ProposalContext, p: Proposal): void {
  const s = ctx.state;
  if (p.kind === 'begin') {
    if (s.change !== null) throw inProgress(s, ctx.driver, 'one change runs at a time');
    if (p.epoch <= s.epoch)
      throw stale(`${p.driver} proposes membership epoch ${p.epoch}, ${ctx.self} has installed ${s.epoch}`);
  } else {
    if (s.change === null || p.epoch !== s.epoch + 1)
      throw stale(
        `${p.driver} proposes membership epoch ${p.epoch} (${p.kind}), ${ctx.self} has installed ${s.epoch}` +
          (s.change === null ? ' with no change in progress' : ''),
      );
    if (p.kind === 'step' && ctx.driver !== p.driver)
      throw stale(`${p.driver} no longer drives ${describeChange(s.change)}: ${ctx.driver ?? 'nobody'} does`);
    if (p.kind === 'takeover' && ctx.driver !== null) {
      if (ctx.driver === p.driver) throw stale(`${p.driver} already drives ${describeChange(s.change)}`);
      if (ctx.driver === ctx.self || !ctx.down.has(ctx.driver))
        throw inProgress(s, ctx.driver, `${ctx.driver} is reachable from ${ctx.self}: no takeover`);
    }
  }
  const r = ctx.reservation;
  // A reservation ends at its expiry or once an epoch at or above it is installed.
  if (r !== null && r.untilMs > ctx.nowMs && r.epoch > s.epoch && r.driver !== p.driver) {
    throw new ConvergeError(
      'CHANGE_IN_PROGRESS',
      `membership epoch ${r.epoch} is reserved for ${r.what}; one change (and one driver) at a time`,
    );
  }
}

/** Who votes on the next epoch of `s`: its members but a replace's dead one. */
export function votersOf(s: MembershipState): string[] {
  return s.members.map((m) => m.id).filter((id) => id !== s.change?.replaced);
}

/** Agreements (the proposer's own included) a proposal needs. */
export function agreementsNeeded(s: MembershipState): number {
  return quorumOf(votersOf(s).length);
}

export function encodeProposal(p: Proposal, record: Uint8Array): Uint8Array {
  const json = { ...p, record: new TextDecoder().decode(record) };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** A proposal and the proposer's record (so a member behind catches up before it judges). */
export function parseProposal(body: Uint8Array): { proposal: Proposal; record: Uint8Array | null } {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
  } catch {
    throw new ConvergeError('PROTOCOL_INVALID', 'membership proposal: not JSON');
  }
  const kind = v.kind ?? 'begin';
  const ok =
    proposalKinds.includes(kind as ProposalKind) &&
    Number.isSafeInteger(v.epoch) &&
    typeof v.fingerprint === 'string' &&
    typeof v.what === 'string' &&
    typeof v.driver === 'string' &&
    (v.record === undefined || typeof v.record === 'string');
  if (!ok) throw new ConvergeError('PROTOCOL_INVALID', 'membership proposal: missing or bad fields');
  const proposal: Proposal = {
    kind: kind as ProposalKind,
    epoch: v.epoch as number,
    fingerprint: v.fingerprint as string,
    what: v.what as string,
    driver: v.driver as string,
  };
  const record = typeof v.record === 'string' ? new TextEncoder().encode(v.record) : null;
  return { proposal, record };
}
