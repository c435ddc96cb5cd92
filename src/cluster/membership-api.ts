// What an operator (HTTP, CLI) and a joining node ask of a member's membership: the members' status, and a
// change begun here (this member then drives it): join, decommission, replace, cancel. A joiner's request
// is idempotent: asking again (a restart of the joiner) answers the record without a second change.

import { ConvergeError } from '../core/errors.js';
import {
  beginDecommission,
  beginJoin,
  beginReplace,
  cancelChange,
  type MembershipState,
} from '../core/membership.js';
import { type MembershipStatus, membershipStatus } from '../core/membership-status.js';
import { memberUrlCharsMax } from './membership-record.js';
import { type MembershipService, membershipRoutes } from './membership-service.js';
import type { InternalRouter } from './transport.js';

export interface MembersView extends MembershipStatus {
  /** The member driving the change in progress (null: none), and each member's address and epoch. */
  readonly driver: string | null;
  readonly addresses: Readonly<Record<string, string>>;
  readonly installedEpochs: Readonly<Record<string, number>>;
  readonly down: readonly string[];
  /** Whether a driver loop streams on the driving member (false: changes begin but nothing streams). */
  readonly streaming: boolean;
  readonly stalled: ReadonlyArray<{ readonly partition: number; readonly reason: string }>;
}

export function membersView(service: MembershipService): MembersView {
  const view = service.driverView;
  const progress = view?.progress() ?? undefined;
  return {
    ...membershipStatus(service.current(), progress ?? undefined),
    driver: service.driver(),
    addresses: Object.fromEntries(service.addresses()),
    installedEpochs: Object.fromEntries(service.installedEpochs()),
    down: [...service.down()].sort(),
    streaming: view !== null,
    stalled: view?.stalled() ?? [],
  };
}

function checkUrl(url: unknown, what: string): string {
  if (typeof url !== 'string' || !/^https?:\/\/[^\s/]+\/?$/.test(url) || url.length > memberUrlCharsMax)
    throw new ConvergeError('BAD_REQUEST', `${what} must be a base URL like http://10.0.0.4:7101`);
  return url.replace(/\/$/, '');
}

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(id))
    throw new ConvergeError('BAD_REQUEST', `${what} must be a node id (1-64 of A-Z a-z 0-9 _ . -)`);
  return id;
}

export function decommission(service: MembershipService, id: unknown): Promise<MembershipState> {
  const member = checkId(id, 'id');
  return service.begin((s) => beginDecommission(s, member));
}

export function replace(
  service: MembershipService,
  dead: unknown,
  id: unknown,
  url: unknown,
): Promise<MembershipState> {
  const [gone, member] = [checkId(dead, 'dead'), checkId(id, 'with')];
  const address = checkUrl(url, 'url');
  return service.begin((s) => beginReplace(s, gone, member), new Map([[member, address]]));
}

/** Cancels the change in progress from this member, which drives what is left (the ring as before). */
export async function cancel(service: MembershipService): Promise<MembershipState> {
  const s = service.current();
  let next: MembershipState;
  try {
    next = cancelChange(s);
  } catch (err) {
    // After a move the way back is the end of the change: say who drives it and what happens if it is gone.
    if (!(err instanceof ConvergeError) || err.code !== 'CHANGE_NOT_CANCELLABLE') throw err;
    const driver = service.driver();
    const state = driver === null ? '' : service.down().has(driver) ? ' (unreachable)' : ' (reachable)';
    throw new ConvergeError(
      'CHANGE_NOT_CANCELLABLE',
      `${err.message}; it is driven by ${driver ?? 'nobody'}${state}: it goes on to its end, and if its ` +
        'driver stays unreachable for --membership-takeover-after another member takes it over',
      err.details,
    );
  }
  await service.install(next, 'cancel');
  return next;
}

/** `membership/join`: a node started with --join (and maybe --replace) asks to become a member. */
export function registerJoinRoute(router: InternalRouter, service: MembershipService): void {
  router.registerInternal(membershipRoutes.join, async (_r, body) => {
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
    } catch {
      throw new ConvergeError('PROTOCOL_INVALID', 'membership join: not JSON');
    }
    const id = checkId(v.id, 'id');
    const url = checkUrl(v.url, 'url');
    const known = service.current().members.some((m) => m.id === id);
    // A joiner restarted (or retrying after a lost answer) gets the record again.
    if (known && service.addressOf(id) === url) return service.encoded();
    if (known)
      throw new ConvergeError('MEMBER_EXISTS', `${id} is already a member, at ${service.addressOf(id)}`);
    const addresses = new Map([[id, url]]);
    if (v.replace === undefined || v.replace === null)
      await service.begin((s) => beginJoin(s, id), addresses);
    else {
      const dead = checkId(v.replace, 'replace');
      await service.begin((s) => beginReplace(s, dead, id), addresses);
    }
    return service.encoded();
  });
}
