// The node's side of the ring: which replicas a key has, whether this node holds a record's partition, and
// what it knows of each peer's ring. Peers compare rings on every ping (the answer carries the responder's
// ring description and one hash over the digest nodes of the partitions both hold), and every internal
// request carries the sender's ring fingerprint, which a node with another ring refuses (RING_MISMATCH).

import type { DigestTree } from '../core/digest.js';
import { ConvergeError } from '../core/errors.js';
import { hash64, tokenOf } from '../core/hash.js';
import type { VersionedRecord } from '../core/record.js';
import { partitionRuns, partitionsDefault, replicationFactorMax, Topology } from '../core/topology.js';
import {
  compareRings,
  describeTopology,
  LiveTopology,
  parseRingDescription,
  type RingDescription,
  ringMismatchError,
} from '../core/topology-describe.js';

/** The header an internal request carries its sender's ring fingerprint in. */
export const ringHeader = 'x-converge-ring';

/** What a node shows of its ring in `/status`. */
export interface RingStatus {
  readonly epoch: number;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly members: readonly string[];
  /** The partitions this node holds, as runs [first, last]. */
  readonly owned: ReadonlyArray<[number, number]>;
}

/** Per peer: partitions both hold, whether their digests are equal (null: cannot tell), a ring mismatch. */
export interface PeerRingStatus {
  readonly shared: number;
  readonly equal: boolean | null;
  readonly mismatch?: string;
}

/** The node's ring: `topology` when given, else id + peers, every member holding every partition. */
export function nodeRingOf(
  id: string,
  peers: ReadonlyArray<{ id: string }>,
  replica: { readonly digest: DigestTree; readonly digestReady: boolean },
  topology: LiveTopology | undefined,
): NodeRing {
  const members = [id, ...peers.map((p) => p.id)];
  const leafBits = replica.digest.leafBits;
  // A digest coarser than the default partitions (a test's) gets one partition per leaf.
  const partitions = Math.min(partitionsDefault, 2 ** leafBits);
  // Without a ring every member holds every key (RF = N), as before the ring: the simulation and the unit tests
  // that build 4 or 5 nodes without one keep full replication.
  const replicationFactor = Math.min(members.length, replicationFactorMax);
  const live =
    topology ?? new LiveTopology(Topology.create({ members, partitions, replicationFactor, leafBits }));
  return new NodeRing(live, id, members, () => ({ tree: replica.digest, ready: replica.digestReady }));
}

export class NodeRing {
  private readonly peers = new Map<string, { equal: boolean | null; mismatch?: string }>();
  private described: { epoch: number; description: RingDescription } | null = null;
  /** Per partition, its replicas in this node's order (self, then --peers), computed once per epoch. */
  private ordered: { epoch: number; lists: Array<readonly string[] | undefined> } | null = null;
  /** Partitions shared with each peer, computed once per epoch (pings ask on every tick). */
  private readonly sharedCache = new Map<string, { epoch: number; partitions: readonly number[] }>();
  /**
   * With a membership service: members and epochs differ between peers while a change spreads, so a ping
   * compares only the parameters (partitions, RF); requests are checked by membership header instead.
   */
  membershipMode = false;

  constructor(
    readonly live: LiveTopology,
    readonly self: string,
    /** This node, then its peers as configured: the order requests go out in. */
    private readonly order: readonly string[],
    private readonly digest: () => { tree: DigestTree; ready: boolean },
  ) {}

  get topology(): Topology {
    return this.live.current;
  }

  description(): RingDescription {
    const t = this.topology;
    if (this.described?.epoch !== t.epoch)
      this.described = { epoch: t.epoch, description: describeTopology(t) };
    return this.described.description;
  }

  fingerprint(): string {
    return this.description().fingerprint;
  }

  /**
   * The key's replicas, this node first and then in the order of --peers (not the preference list's order):
   * every one of them gets the request, and with N = RF this is exactly the order requests went out in
   * before the ring, so the same history replays the same way.
   */
  replicasFor(key: Uint8Array): readonly string[] {
    const t = this.topology;
    if (this.ordered?.epoch !== t.epoch) this.ordered = { epoch: t.epoch, lists: new Array(t.partitions) };
    const p = t.partitionOf(tokenOf(key));
    let list = this.ordered.lists[p];
    if (list === undefined) {
      list = [...t.replicasOf(p)].sort((a, b) => this.rank(a) - this.rank(b));
      this.ordered.lists[p] = list;
    }
    return list;
  }

  private rank(id: string): number {
    const i = this.order.indexOf(id);
    return i < 0 ? this.order.length : i;
  }

  holdsKey(key: Uint8Array): boolean {
    const t = this.topology;
    return t.holds(this.self, t.partitionOf(tokenOf(key)));
  }

  /** PARTITION_NOT_OWNED for the first record of a partition this node does not hold, before any is applied. */
  refuseNotOwned(records: readonly VersionedRecord[], source: string, from: string | undefined): void {
    const foreign = records.filter((r) => !this.holdsKey(r.key));
    if (foreign.length === 0) return;
    const t = this.topology;
    const p = t.partitionOf(tokenOf(foreign[0]!.key));
    throw new ConvergeError(
      'PARTITION_NOT_OWNED',
      `${foreign.length} of ${records.length} ${source} records${from === undefined ? '' : ` from ${from}`} ` +
        `belong to partitions ${this.self} does not hold (first: partition ${p}, held by ` +
        `${t.replicasOf(p).join(', ')}); nothing was applied`,
      { partition: p, refused: foreign.length },
    );
  }

  /**
   * One hash over this node's digest nodes of the partitions it shares with `peer` (level log2 P); equal
   * hashes on both sides mean those ranges hold the same records. Null while the digest is being rebuilt.
   */
  sharedDigest(peer: string): string | null {
    const { tree, ready } = this.digest();
    if (!ready) return null;
    const t = this.topology;
    const shared = this.sharedWith(peer);
    // Every partition shared (N = RF): the root summarises them all.
    if (shared.length === t.partitions) return `${tree.rootHex()}:${tree.count()}`;
    const words = new Uint32Array(shared.length * 3);
    for (const [i, p] of shared.entries()) {
      const n = tree.node(t.partitionBits, p);
      words.set([n.hi, n.lo, n.count], i * 3);
    }
    const [hi, lo] = hash64(new Uint8Array(words.buffer), 0x73686172n); // 'shar'
    return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
  }

  private sharedWith(peer: string): readonly number[] {
    const t = this.topology;
    const cached = this.sharedCache.get(peer);
    if (cached?.epoch === t.epoch) return cached.partitions;
    const partitions = t.sharedPartitions(this.self, peer);
    this.sharedCache.set(peer, { epoch: t.epoch, partitions });
    return partitions;
  }

  /** The ring fields of a ping answer to `from`. */
  pingFields(from: string | undefined): { ring: RingDescription; shared: string | null } {
    const known = from !== undefined && this.topology.isMember(from);
    return { ring: this.description(), shared: known ? this.sharedDigest(from) : null };
  }

  /**
   * Reads the ring fields of `peer`'s ping answer: the first difference of its ring from this one, or
   * whether the shared ranges' digests are equal. Returns the mismatch text when it is new (to be logged).
   */
  onPingAnswer(peer: string, answer: { ring?: unknown; shared?: unknown } | null): string | null {
    const before = this.peers.get(peer)?.mismatch;
    if (answer?.ring === undefined) {
      // A node of an older version sends no ring: nothing can be told of its ranges.
      this.peers.set(peer, { equal: null });
      return null;
    }
    const mismatch = this.mismatchWith(peer, answer.ring);
    if (mismatch !== undefined) {
      this.peers.set(peer, { equal: null, mismatch });
      return mismatch === before ? null : mismatch;
    }
    const mine = this.sharedDigest(peer);
    const theirs = typeof answer.shared === 'string' ? answer.shared : null;
    this.peers.set(peer, { equal: mine === null || theirs === null ? null : mine === theirs });
    return null;
  }

  /** The first difference of a peer's ring from this one, in words; the same fingerprint is the same ring. */
  private mismatchWith(peer: string, ring: unknown): string | undefined {
    const mine = this.description();
    if ((ring as { fingerprint?: unknown } | null)?.fingerprint === mine.fingerprint) return undefined;
    try {
      const theirs = parseRingDescription(ring);
      const m = compareRings(mine, theirs, peer);
      const params = m?.field === 'partitions' || m?.field === 'replicationFactor';
      // A peer at another membership epoch is behind or ahead while a change spreads: not a mismatch.
      if (this.membershipMode && !params && theirs.epoch !== mine.epoch) return undefined;
      return m === null ? undefined : ringMismatchError(m).message;
    } catch (err) {
      return `peer ${peer} sent an unreadable ring: ${(err as Error).message}`;
    }
  }

  /** A peer that did not answer: its ranges cannot be compared now (a known mismatch stays). */
  onPingFailed(peer: string): void {
    const mismatch = this.peers.get(peer)?.mismatch;
    this.peers.set(peer, { equal: null, ...(mismatch === undefined ? {} : { mismatch }) });
  }

  mismatchOf(peer: string): string | undefined {
    return this.peers.get(peer)?.mismatch;
  }

  /**
   * Refuses an internal request whose sender runs another ring. Pings pass: their answer carries this
   * node's ring, from which the sender learns the precise difference.
   */
  checkRequest(route: string, from: string | undefined, fingerprint: string | undefined): void {
    if (fingerprint === undefined || route === 'ping') return;
    const mine = this.fingerprint();
    if (fingerprint === mine) return;
    const known = from === undefined ? undefined : this.mismatchOf(from);
    const who = from ?? 'the sender';
    throw new ConvergeError(
      'RING_MISMATCH',
      known ??
        `ring mismatch: ${who} runs ring fingerprint ${fingerprint}, this node (${this.self}) ${mine}; ` +
          'every member needs the same --partitions, --replication-factor and --peers (see /status)',
      { field: 'fingerprint' },
    );
  }

  status(): RingStatus {
    const t = this.topology;
    return {
      epoch: t.epoch,
      partitions: t.partitions,
      replicationFactor: t.replicationFactor,
      members: t.members.map((m) => m.id),
      owned: partitionRuns(t.ownedBy(this.self)),
    };
  }

  peerStatus(peer: string): PeerRingStatus {
    const known = this.peers.get(peer);
    const shared = this.sharedWith(peer).length;
    const base = { shared, equal: shared === 0 ? true : (known?.equal ?? null) };
    return known?.mismatch === undefined ? base : { ...base, equal: null, mismatch: known.mismatch };
  }
}
