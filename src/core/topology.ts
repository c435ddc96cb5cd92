// The topology: the single source of "who holds what". The token space is cut into P = 2^bits partitions by
// the token's top bits, so a partition is exactly one subtree of every digest with leafBits >= bits; each
// partition has an ordered list of replicas (its preference list) from a deterministic, balanced claim.
// A Topology is immutable: a membership change makes a new one with a higher epoch (LiveTopology tells).

import { leafBitsDefault, prefixRange } from './digest.js';
import { assert, ConvergeError } from './errors.js';
import { hash64, tokenHi, tokenOf } from './hash.js';
import { claimHole, claimPartitions } from './topology-claim.js';

export type MemberState = 'joining' | 'normal' | 'leaving';
export const memberStates: readonly MemberState[] = ['joining', 'normal', 'leaving'];

export interface RingMember {
  readonly id: string;
  readonly state: MemberState;
}

export const partitionsDefault = 256;
/** Bounds the claim's table and the per-member partition lists; 2^16 partitions of a 16 M-leaf digest. */
export const partitionsMax = 65_536;
export const replicationFactorDefault = 3;
export const replicationFactorMax = 16;
export const membersMax = 256;
export const memberIdBytesMax = 64;

export interface TopologyParams {
  /** Every member, this node included, in any order (ids are sorted here, so every node sees one order). */
  readonly members: ReadonlyArray<RingMember | string>;
  readonly partitions?: number;
  /** Replicas wanted per partition. With fewer members, every member holds every partition (see replicas). */
  readonly replicationFactor?: number;
  readonly epoch?: number;
  /** The digest's leaf bits: a partition must not be smaller than one digest leaf. */
  readonly leafBits?: number;
}

/** floor(rf/2)+1: the replicas a `quorum` request needs; any two quorums of one partition overlap. */
export function quorumOf(rf: number): number {
  assert(Number.isInteger(rf) && rf >= 1, 'quorumOf: rf >= 1');
  return Math.floor(rf / 2) + 1;
}

function invalid(message: string): ConvergeError {
  return new ConvergeError('CONFIG_INVALID', message);
}

const idBytes = new TextEncoder();

function normaliseMembers(members: ReadonlyArray<RingMember | string>): RingMember[] {
  if (members.length === 0) throw invalid('ring: at least one member is needed');
  if (members.length > membersMax)
    throw invalid(`ring: ${members.length} members exceed membersMax ${membersMax}`);
  const out = members.map((m) => (typeof m === 'string' ? { id: m, state: 'normal' as const } : { ...m }));
  const seen = new Set<string>();
  for (const m of out) {
    const bytes = idBytes.encode(m.id).length;
    if (bytes === 0 || bytes > memberIdBytesMax) {
      throw invalid(`ring: member id "${m.id}" must be 1-${memberIdBytesMax} bytes (memberIdBytesMax)`);
    }
    if (seen.has(m.id)) throw invalid(`ring: member ${m.id} is listed twice`);
    seen.add(m.id);
    // A state is a label for display and agreement (it is in the ring's fingerprint): the claim reads only
    // ids, so a member's state never changes which partitions it holds (src/core/membership.ts decides that).
    if (!memberStates.includes(m.state)) throw invalid(`ring: member ${m.id} has unknown state "${m.state}"`);
  }
  // Code-unit order, not locale order: the same on every node whatever its locale.
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function checkPartitions(partitions: number, leafBits: number): number {
  const bits = Math.log2(partitions);
  if (!Number.isInteger(partitions) || partitions < 1 || !Number.isInteger(bits)) {
    throw invalid(`--partitions: ${partitions} must be a power of two (1, 2, 4, ... ${partitionsMax})`);
  }
  if (partitions > partitionsMax)
    throw invalid(`--partitions: ${partitions} exceeds partitionsMax ${partitionsMax}`);
  if (bits > leafBits) {
    throw invalid(
      `--partitions: ${partitions} exceeds the digest's ${2 ** leafBits} leaves (--leaf-bits ${leafBits})`,
    );
  }
  return bits;
}

function checkReplicationFactor(rf: number): void {
  if (!Number.isInteger(rf) || rf < 1 || rf > replicationFactorMax) {
    throw invalid(`--replication-factor: ${rf} must be an integer from 1 to ${replicationFactorMax}`);
  }
}

export class Topology {
  readonly epoch: number;
  readonly partitions: number;
  /** log2(partitions): a partition is the digest subtree at this level. */
  readonly partitionBits: number;
  /** As configured; the same on every member. */
  readonly replicationFactor: number;
  /** Replicas each partition actually has: min(replicationFactor, members). */
  readonly replicas: number;
  /** Sorted by id. */
  readonly members: readonly RingMember[];
  private readonly index: ReadonlyMap<string, number>;
  private readonly lists: ReadonlyArray<readonly string[]>;
  private readonly owned: ReadonlyArray<readonly number[]>;

  private constructor(
    members: RingMember[],
    partitionBits: number,
    rf: number,
    epoch: number,
    table: Int32Array,
    /** Lists of their own widths (fromWriteSets); the table is then empty. */
    ragged?: ReadonlyArray<readonly number[]>,
  ) {
    this.members = Object.freeze(members.map((m) => Object.freeze(m)));
    this.partitionBits = partitionBits;
    this.partitions = 2 ** partitionBits;
    this.replicationFactor = rf;
    this.replicas = Math.min(rf, members.length);
    this.epoch = epoch;
    this.index = new Map(members.map((m, i) => [m.id, i]));
    const lists: string[][] = [];
    const owned: number[][] = members.map(() => []);
    for (let p = 0; p < this.partitions; p++) {
      const list: string[] = [];
      const width = ragged === undefined ? this.replicas : ragged[p]!.length;
      for (let r = 0; r < width; r++) {
        const m = ragged === undefined ? table[p * this.replicas + r]! : ragged[p]![r]!;
        assert(m !== claimHole && !list.includes(members[m]!.id), 'topology: distinct replicas, no hole');
        list.push(members[m]!.id);
        owned[m]!.push(p);
      }
      lists.push(Object.freeze(list) as string[]);
    }
    this.lists = lists;
    this.owned = owned.map((o) => Object.freeze(o));
  }

  /** A fresh claim; the same params give the same topology on every node, whatever the members' order. */
  static create(params: TopologyParams): Topology {
    const { members, rf, bits, epoch, width } = checkParams(params);
    const table = claimPartitions({
      memberCount: members.length,
      memberSeeds: seedsOf(members),
      partitions: 2 ** bits,
      width,
    });
    return new Topology(members, bits, rf, epoch, table);
  }

  /**
   * The topology after a membership change, claimed from this one so that few replicas move: survivors keep
   * their partitions where the balance allows, departed members' replicas go to the emptiest members.
   */
  withMembers(next: ReadonlyArray<RingMember | string>, epoch: number = this.epoch + 1): Topology {
    const members = normaliseMembers(next);
    if (!Number.isSafeInteger(epoch) || epoch <= this.epoch) {
      throw invalid(`ring: the new epoch ${epoch} must be above the current ${this.epoch}`);
    }
    const index = new Map(members.map((m, i) => [m.id, i]));
    const width = Math.min(this.replicationFactor, members.length);
    const start = new Int32Array(this.partitions * width).fill(claimHole);
    for (let p = 0; p < this.partitions; p++) {
      const kept = this.lists[p]!.map((id) => index.get(id)).filter((m): m is number => m !== undefined);
      // Shrinking below RF drops the lowest-ranked replicas; growing leaves holes at the end of the list.
      for (let r = 0; r < Math.min(width, kept.length); r++) start[p * width + r] = kept[r]!;
    }
    const seeds = seedsOf(members);
    const table = claimPartitions({
      memberCount: members.length,
      memberSeeds: seeds,
      partitions: this.partitions,
      width,
      start,
    });
    return new Topology(members, this.partitionBits, this.replicationFactor, epoch, table);
  }

  /**
   * A topology from an explicit assignment (one preference list per partition), for a ring that a membership
   * change produced or that was read back from storage: no claim is run, so the lists are kept exactly.
   * Every list must name min(RF, N) distinct members; a bad assignment is a CONFIG_INVALID error.
   */
  static fromAssignment(
    params: TopologyParams & { readonly lists: ReadonlyArray<readonly string[]> },
  ): Topology {
    const { members, rf, bits, epoch, width } = checkParams(params);
    if (params.lists.length !== 2 ** bits)
      throw invalid(`ring: ${params.lists.length} preference lists for ${2 ** bits} partitions`);
    const index = new Map(members.map((m, i) => [m.id, i]));
    const table = new Int32Array(2 ** bits * width);
    for (const [p, list] of params.lists.entries()) {
      if (list.length !== width || new Set(list).size !== width) {
        throw invalid(`ring: partition ${p} must list ${width} distinct replicas, not [${list.join(', ')}]`);
      }
      for (const [r, id] of list.entries()) {
        const m = index.get(id);
        if (m === undefined) throw invalid(`ring: partition ${p} names ${id}, who is not a member`);
        table[p * width + r] = m;
      }
    }
    return new Topology(members, bits, rf, epoch, table);
  }

  /**
   * The routing view of a ring under a membership change: each partition lists every member a write goes to
   * (old and new owners while it moves), so the lists may be wider than RF and differ in width. Not a ring a
   * claim could make: the node and anti-entropy read who holds what from it (src/cluster/membership-*.ts).
   */
  static fromWriteSets(
    params: TopologyParams & { readonly lists: ReadonlyArray<readonly string[]> },
  ): Topology {
    const { members, rf, bits, epoch } = checkParams(params);
    if (params.lists.length !== 2 ** bits)
      throw invalid(`ring: ${params.lists.length} write sets for ${2 ** bits} partitions`);
    const index = new Map(members.map((m, i) => [m.id, i]));
    const ragged = params.lists.map((list, p) => {
      if (list.length === 0 || new Set(list).size !== list.length)
        throw invalid(`ring: partition ${p} must list distinct replicas, not [${list.join(', ')}]`);
      return list.map((id) => {
        const m = index.get(id);
        if (m === undefined) throw invalid(`ring: partition ${p} names ${id}, who is not a member`);
        return m;
      });
    });
    return new Topology(members, bits, rf, epoch, new Int32Array(0), ragged);
  }

  /** The partition of a token (8 bytes, big-endian): its top partitionBits bits. */
  partitionOf(token: Uint8Array): number {
    assert(token.length >= 4, 'partitionOf: a token has at least 4 bytes');
    return this.partitionOfHi(tokenHi(token));
  }

  /** The partition from a token's first 32 bits (what digests and indexes already compute). */
  partitionOfHi(hi: number): number {
    // A shift by 32 is a shift by 0 in JavaScript: one partition needs its own case.
    return this.partitionBits === 0 ? 0 : hi >>> (32 - this.partitionBits);
  }

  /** The preference list of a partition: its replicas, first choice first. */
  replicasOf(partition: number): readonly string[] {
    assert(
      Number.isInteger(partition) && partition >= 0 && partition < this.partitions,
      'partition in range',
    );
    return this.lists[partition]!;
  }

  /** The preference list of the partition a token falls in. */
  replicasFor(token: Uint8Array): readonly string[] {
    return this.replicasOf(this.partitionOf(token));
  }

  replicasForKey(key: Uint8Array): readonly string[] {
    return this.replicasFor(tokenOf(key));
  }

  isMember(id: string): boolean {
    return this.index.has(id);
  }

  /** Whether `member` holds a replica of `partition`. */
  holds(member: string, partition: number): boolean {
    return this.replicasOf(partition).includes(member);
  }

  /** The partitions a member holds, ascending; empty for an id that is not a member. */
  ownedBy(member: string): readonly number[] {
    const i = this.index.get(member);
    return i === undefined ? [] : this.owned[i]!;
  }

  /** The partitions both members hold, ascending: what a session between them may compare and repair. */
  sharedPartitions(a: string, b: string): number[] {
    const other = this.ownedBy(b);
    const mine = new Set(this.ownedBy(a));
    return other.filter((p) => mine.has(p));
  }

  /** The members that share at least one partition with `member` (its anti-entropy peers), sorted by id. */
  peersOf(member: string): string[] {
    return this.members
      .map((m) => m.id)
      .filter((id) => id !== member && this.sharedPartitions(member, id).length > 0);
  }

  /** The token range [start, end) of a partition; `end` is undefined for the last one (to the end). */
  partitionRange(partition: number): { start: Uint8Array; end: Uint8Array | undefined } {
    assert(
      Number.isInteger(partition) && partition >= 0 && partition < this.partitions,
      'partition in range',
    );
    return prefixRange(this.partitionBits, partition);
  }

  /** The digest node that summarises a partition: level partitionBits, index partition. */
  digestNodeOf(partition: number): { level: number; index: number } {
    assert(
      Number.isInteger(partition) && partition >= 0 && partition < this.partitions,
      'partition in range',
    );
    return { level: this.partitionBits, index: partition };
  }

  /** The digest leaves [first, end) under a partition, for a digest of `leafBits` >= partitionBits. */
  leavesOf(partition: number, leafBits: number): { first: number; end: number } {
    assert(leafBits >= this.partitionBits, 'leavesOf: the digest is at least as fine as the partitions');
    const span = 2 ** (leafBits - this.partitionBits);
    return { first: partition * span, end: (partition + 1) * span };
  }

  /** Replicas a `quorum` request needs for any key of this topology. */
  quorum(): number {
    return quorumOf(this.replicas);
  }
}

function seedsOf(members: readonly RingMember[]): Uint32Array {
  return Uint32Array.from(members, (m) => hash64(idBytes.encode(m.id), 0x72696e67n)[1]); // 'ring'
}

/** A topology's parameters checked, with the defaults filled in: what create and fromAssignment share. */
function checkParams(params: TopologyParams): {
  members: RingMember[];
  rf: number;
  bits: number;
  epoch: number;
  width: number;
} {
  const members = normaliseMembers(params.members);
  const rf = params.replicationFactor ?? replicationFactorDefault;
  checkReplicationFactor(rf);
  const bits = checkPartitions(params.partitions ?? partitionsDefault, params.leafBits ?? leafBitsDefault);
  const epoch = params.epoch ?? 1;
  if (!Number.isSafeInteger(epoch) || epoch < 0)
    throw invalid(`ring: epoch ${epoch} must be a non-negative integer`);
  return { members, rf, bits, epoch, width: Math.min(rf, members.length) };
}

/** Runs of consecutive partitions as [first, last] pairs, for compact display ("0-63, 128-191"). */
export function partitionRuns(partitions: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const p of partitions) {
    const last = runs[runs.length - 1];
    if (last !== undefined && p === last[1] + 1) last[1] = p;
    else runs.push([p, p]);
  }
  return runs;
}
