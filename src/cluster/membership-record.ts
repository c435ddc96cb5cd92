// What a member stores and hands to a peer that asks for its membership: the state (membership-codec's
// canonical bytes), the address book (id → base URL) and the member that drives the change in progress.
// JSON around the state's bytes (base64): the state is what members order and agree on (its fingerprint);
// the address book and the driver travel with it and change only with it (a new epoch). docs/protocol.md
// has the grammar. Also the routing view of a state: each partition's write set as a Topology.

import { ConvergeError } from '../core/errors.js';
import type { MembershipState } from '../core/membership.js';
import { decodeMembership, encodeMembership, membershipBytesMax } from '../core/membership-codec.js';
import { replicaSetsOf } from '../core/membership-replicas.js';
import { Topology } from '../core/topology.js';

export const membershipRecordFormat = 1;
/** A member's base URL is at most this long. */
export const memberUrlCharsMax = 2048;

export interface MembershipRecord {
  readonly state: MembershipState;
  /** Every member's base URL that is known (a replaced member's may stay until the change ends). */
  readonly addresses: ReadonlyMap<string, string>;
  /** The member that drives the change in progress; null when none is in progress. */
  readonly driver: string | null;
}

export function encodeMembershipRecord(r: MembershipRecord): Uint8Array {
  const addresses = Object.fromEntries([...r.addresses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const json = {
    format: membershipRecordFormat,
    state: Buffer.from(encodeMembership(r.state)).toString('base64'),
    addresses,
    driver: r.driver,
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

function invalid(message: string): ConvergeError {
  return new ConvergeError('MEMBERSHIP_INVALID', `membership record: ${message}`);
}

/** A record from storage or a peer, checked whole: a bad one is MEMBERSHIP_INVALID (or PROTOCOL_*). */
export function decodeMembershipRecord(bytes: Uint8Array): MembershipRecord {
  // base64 grows the state by 4/3; the addresses are bounded by members x URL length.
  if (bytes.length > membershipBytesMax * 2) throw invalid(`${bytes.length} bytes exceed the bound`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw invalid(`not JSON: ${(err as Error).message}`);
  }
  const v = (json ?? {}) as Record<string, unknown>;
  if (v.format !== membershipRecordFormat) throw invalid(`format ${String(v.format)} is not 1`);
  if (typeof v.state !== 'string') throw invalid('state is not base64 text');
  const state = decodeMembership(new Uint8Array(Buffer.from(v.state, 'base64')));
  if (typeof v.addresses !== 'object' || v.addresses === null || Array.isArray(v.addresses))
    throw invalid('addresses is not an object');
  const addresses = new Map<string, string>();
  for (const [id, url] of Object.entries(v.addresses as Record<string, unknown>)) {
    if (typeof url !== 'string' || !/^https?:\/\/./.test(url) || url.length > memberUrlCharsMax)
      throw invalid(`the address of ${id} is not an http(s) URL of at most ${memberUrlCharsMax} chars`);
    addresses.set(id, url);
  }
  const driver = v.driver;
  if (driver !== null && (typeof driver !== 'string' || !state.members.some((m) => m.id === driver)))
    throw invalid('driver is neither null nor a member');
  return { state, addresses, driver: state.change === null ? null : (driver as string | null) };
}

/**
 * The routing view: per partition, every member a write goes to (old and new owners while it moves; a
 * replace's dead member in none). Its epoch is the state's, so every step of a change is a new view.
 */
export function writeSetTopology(s: MembershipState): Topology {
  const lists = Array.from({ length: s.ring.partitions }, (_, p) => replicaSetsOf(s, p).write);
  return Topology.fromWriteSets({
    members: s.members,
    partitions: s.ring.partitions,
    replicationFactor: s.ring.replicationFactor,
    epoch: s.epoch,
    lists,
    leafBits: s.ring.partitionBits,
  });
}

/** Partitions whose owners moved between two states (a move now `moved`/`cleaned` that was not). */
export function movedBetween(before: MembershipState, after: MembershipState): number {
  const was = new Set(
    (before.change?.moves ?? [])
      .filter((m) => m.state === 'moved' || m.state === 'cleaned')
      .map((m) => m.partition),
  );
  let n = 0;
  for (const m of after.change?.moves ?? [])
    if ((m.state === 'moved' || m.state === 'cleaned') && !was.has(m.partition)) n += 1;
  return n;
}

/** `epoch.fingerprint`: the header every internal request and ping answer carries. */
export function formatMembershipHeader(epoch: number, fingerprint: string): string {
  return `${epoch}.${fingerprint}`;
}

export function parseMembershipHeader(
  text: string | undefined,
): { epoch: number; fingerprint: string } | null {
  const m = text === undefined ? null : /^(\d{1,15})\.([0-9a-f]{16})$/.exec(text);
  return m === null ? null : { epoch: Number(m[1]), fingerprint: m[2]! };
}
