// The membership state as bytes, to be stored durably on every member and exchanged between them. Compact
// (members once, then one small index per replica) and versioned; every read is bounds-checked and the
// decoded state must pass checkMembership, so bytes from a disk or a peer never yield a state the
// transitions could not have made. Grammar (varuint = unsigned LEB128):
//   version:u8=1 epoch:varuint partitionBits:u8 replicationFactor:u8 ringEpoch:varuint
//   memberCount:varuint { idLength:varuint id:utf8 state:u8 }*
//   { replica:varuint (member index) }* (partitions x min(RF, members not joining))
//   hasChange:u8 [ kind:u8 member:varuint replacedPlusOne:varuint sinceEpoch:varuint moveCount:varuint
//     { partition:varuint state:u8 movedAtMsPlusOne:varuint fromCount:u8 {varuint}* toCount:u8 {varuint}* }* ]

import { ConvergeError } from './errors.js';
import {
  type ChangeKind,
  changeKinds,
  type MembershipChange,
  type MembershipState,
  type MoveState,
  moveStates,
  type PartitionMove,
} from './membership.js';
import { checkMembership } from './membership-check.js';
import {
  memberIdBytesMax,
  memberStates,
  membersMax,
  partitionsMax,
  type RingMember,
  replicationFactorMax,
  Topology,
} from './topology.js';
import { invalid, WireReader, WireWriter } from './wire-buffer.js';

export const membershipFormatVersion = 1;
/** The largest encoded state read back: 65,536 partitions x 16 replicas, twice, with room to spare. */
export const membershipBytesMax = 8 * 1024 * 1024;

const text = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

function writeMove(w: WireWriter, move: PartitionMove, index: ReadonlyMap<string, number>): void {
  w.varuint(move.partition);
  w.u8(moveStates.indexOf(move.state));
  w.varuint(move.movedAtMs === null ? 0 : move.movedAtMs + 1);
  for (const list of [move.from, move.to]) {
    w.u8(list.length);
    for (const id of list) w.varuint(index.get(id)!);
  }
}

export function encodeMembership(s: MembershipState): Uint8Array {
  const w = new WireWriter(4096);
  w.u8(membershipFormatVersion);
  w.varuint(s.epoch);
  w.u8(s.ring.partitionBits);
  w.u8(s.ring.replicationFactor);
  w.varuint(s.ring.epoch);
  w.varuint(s.members.length);
  const index = new Map(s.members.map((m, i) => [m.id, i]));
  for (const m of s.members) {
    w.lengthPrefixed(text.encode(m.id));
    w.u8(memberStates.indexOf(m.state));
  }
  for (let p = 0; p < s.ring.partitions; p++)
    for (const id of s.ring.replicasOf(p)) w.varuint(index.get(id)!);
  const change = s.change;
  w.u8(change === null ? 0 : 1);
  if (change !== null) {
    w.u8(changeKinds.indexOf(change.kind));
    w.varuint(index.get(change.member)!);
    w.varuint(change.replaced === null ? 0 : index.get(change.replaced)! + 1);
    w.varuint(change.sinceEpoch);
    w.varuint(change.moves.length);
    for (const move of change.moves) writeMove(w, move, index);
  }
  return w.finish();
}

function readEnum<T>(r: WireReader, values: readonly T[], what: string): T {
  const v = values[r.u8(what)];
  if (v === undefined) throw invalid(`membership state: unknown ${what}`);
  return v;
}

function readMembers(r: WireReader): RingMember[] {
  const count = r.varuint('member count', membersMax);
  if (count === 0) throw invalid('membership state: no members');
  const members: RingMember[] = [];
  for (let i = 0; i < count; i++) {
    let id: string;
    try {
      id = utf8.decode(r.lengthPrefixed('member id', memberIdBytesMax));
    } catch (e) {
      if (e instanceof ConvergeError) throw e;
      throw invalid(`membership state: member ${i} id is not UTF-8`);
    }
    members.push({ id, state: readEnum(r, memberStates, 'member state') });
  }
  return members;
}

function readId(r: WireReader, members: readonly RingMember[], what: string): string {
  return members[r.varuint(what, members.length - 1)]!.id;
}

function readList(r: WireReader, members: readonly RingMember[], what: string): string[] {
  const n = r.u8(`${what} count`);
  if (n > replicationFactorMax)
    throw invalid(`membership state: ${n} ${what} exceed ${replicationFactorMax}`);
  return Array.from({ length: n }, () => readId(r, members, what));
}

function readChange(r: WireReader, members: readonly RingMember[], partitions: number): MembershipChange {
  const kind: ChangeKind = readEnum(r, changeKinds, 'change kind');
  const member = readId(r, members, 'change member');
  const replacedPlusOne = r.varuint('replaced member', members.length);
  const sinceEpoch = r.varuint('change epoch', Number.MAX_SAFE_INTEGER);
  const count = r.varuint('move count', partitions);
  const moves: PartitionMove[] = [];
  for (let i = 0; i < count; i++) {
    const partition = r.varuint('partition', partitions - 1);
    const state: MoveState = readEnum(r, moveStates, 'move state');
    const at = r.varuint('move time', Number.MAX_SAFE_INTEGER);
    const from = readList(r, members, 'old owners');
    const to = readList(r, members, 'new owners');
    moves.push({ partition, state, movedAtMs: at === 0 ? null : at - 1, from, to });
  }
  const replaced = replacedPlusOne === 0 ? null : members[replacedPlusOne - 1]!.id;
  return { kind, member, replaced, sinceEpoch, moves };
}

function readRing(
  r: WireReader,
  members: readonly RingMember[],
  bits: number,
  rf: number,
  epoch: number,
): Topology {
  const inRing = members.filter((m) => m.state !== 'joining');
  if (inRing.length === 0) throw invalid('membership state: every member is joining');
  const width = Math.min(rf, inRing.length);
  const lists = Array.from({ length: 2 ** bits }, () =>
    Array.from({ length: width }, () => readId(r, members, 'replica')),
  );
  return Topology.fromAssignment({
    members: inRing,
    partitions: 2 ** bits,
    replicationFactor: rf,
    epoch,
    lists,
    leafBits: Math.log2(partitionsMax),
  });
}

function decode(bytes: Uint8Array): MembershipState {
  const r = new WireReader(bytes);
  const version = r.u8('membership format');
  if (version !== membershipFormatVersion) {
    throw new ConvergeError(
      'PROTOCOL_VERSION',
      `membership state format ${version}; this node reads ${membershipFormatVersion}`,
    );
  }
  const epoch = r.varuint('epoch', Number.MAX_SAFE_INTEGER);
  const bits = r.u8('partition bits');
  if (bits > Math.log2(partitionsMax))
    throw invalid(`membership state: 2^${bits} partitions exceed ${partitionsMax}`);
  const rf = r.u8('replication factor');
  const ringEpoch = r.varuint('ring epoch', Number.MAX_SAFE_INTEGER);
  const members = readMembers(r);
  const ring = readRing(r, members, bits, rf, ringEpoch);
  const has = r.u8('change flag');
  if (has > 1) throw invalid('membership state: change flag is not 0 or 1');
  const change = has === 1 ? readChange(r, members, 2 ** bits) : null;
  r.end('membership state');
  return { epoch, members, ring, change };
}

/**
 * Reads a state written by encodeMembership. Malformed bytes are PROTOCOL_INVALID (PROTOCOL_TOO_LARGE over a
 * limit, PROTOCOL_VERSION for another format); well-formed bytes of an impossible state are MEMBERSHIP_INVALID.
 */
export function decodeMembership(bytes: Uint8Array): MembershipState {
  if (bytes.length > membershipBytesMax) {
    throw new ConvergeError(
      'PROTOCOL_TOO_LARGE',
      `membership state of ${bytes.length} bytes exceeds membershipBytesMax ${membershipBytesMax}`,
    );
  }
  let state: MembershipState;
  try {
    state = decode(bytes);
  } catch (e) {
    // The ring's own checks speak of options (CONFIG_INVALID); here they are a malformed message.
    if (e instanceof ConvergeError && e.code === 'CONFIG_INVALID')
      throw invalid(`membership state: ${e.message}`);
    throw e;
  }
  checkMembership(state);
  // One state, one encoding (varints without padding, flags 0 or 1): stored and exchanged bytes compare.
  const again = encodeMembership(state);
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) {
    throw invalid('membership state: not in its canonical encoding (a padded varint)');
  }
  return state;
}
