// Hinted handoff: a write that could not reach a replica is kept durably as a hint, in this node's storage,
// and replayed in bounded batches with exponential backoff once the replica answers again. The store is
// bounded per peer, in bytes and in age; a hint over a bound is dropped and counted — anti-entropy heals it.
// While this node's storage refuses writes (a full disk), no hint is stored (dropped as `storage`) and none
// is replayed: a replayed hint could not be deleted, so it waits until the storage takes writes again.

import { ConvergeError } from '../core/errors.js';
import type { Clock } from '../core/hlc.js';
import type { Random } from '../core/random.js';
import type { VersionedRecord } from '../core/record.js';
import type { StorageSpace } from '../replica/space.js';
import { decodeRecords, encodeRecords } from './codec.js';

/**
 * Sends records to a peer (the replication channel); resolves once the peer has answered for every one, with
 * the number it refused for good (its admission rules), or rejects when one could not be delivered.
 */
export type HintDelivery = (peer: string, records: readonly VersionedRecord[]) => Promise<number>;

export interface HintLimits {
  readonly hintsPerPeerMax: number;
  readonly hintBytesMax: number;
  readonly hintAgeMsMax: number;
  readonly hintReplayBatchMax: number;
  readonly hintBackoffMsMax: number;
}

export const hintLimitsDefault: HintLimits = {
  hintsPerPeerMax: 100_000,
  hintBytesMax: 256 * 2 ** 20,
  hintAgeMsMax: 3 * 60 * 60 * 1000,
  hintReplayBatchMax: 500,
  hintBackoffMsMax: 30_000,
};

interface PeerHints {
  count: number;
  bytes: number;
  nextSeq: number;
  failures: number;
  retryAtMs: number;
}

export interface HintCounters {
  stored: number;
  replayed: number;
  /** `removed`: the hints of a member a membership change replaced or removed (dropPeer). */
  dropped: Record<'full' | 'expired' | 'rejected' | 'storage' | 'removed', number>;
}

const te = new TextEncoder();

/** A hint's key in the replica's hint space: the peer's id (length first), then the hint's sequence number. */
function hintKey(peer: string, seq: number): Uint8Array {
  const id = te.encode(peer);
  const out = new Uint8Array(1 + id.length + 8);
  out[0] = id.length;
  out.set(id, 1);
  new DataView(out.buffer).setBigUint64(1 + id.length, BigInt(seq));
  return out;
}

function peerBounds(peer: string): { start: Uint8Array; end: Uint8Array } {
  const start = hintKey(peer, 0).subarray(0, 1 + te.encode(peer).length);
  const end = start.slice();
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return { start: start.slice(), end };
}

/** Value: created ms (8 bytes) + packed record. */
function encodeHint(createdMs: number, record: VersionedRecord): Uint8Array {
  const packed = encodeRecords([record]);
  const out = new Uint8Array(8 + packed.length);
  new DataView(out.buffer).setFloat64(0, createdMs);
  out.set(packed, 8);
  return out;
}

export class HintStore {
  private readonly peers = new Map<string, PeerHints>();
  readonly counters: HintCounters = {
    stored: 0,
    replayed: 0,
    dropped: { full: 0, expired: 0, rejected: 0, storage: 0, removed: 0 },
  };
  private totalBytes = 0;
  /** Peers whose replay is under way: one batch per peer at a time. */
  private readonly replaying = new Set<string>();

  constructor(
    private readonly storage: StorageSpace,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly limits: HintLimits,
    peerIds: readonly string[],
  ) {
    for (const peer of peerIds) this.peers.set(peer, this.load(peer));
  }

  /** Counts what survived a restart. */
  private load(peer: string): PeerHints {
    const state: PeerHints = { count: 0, bytes: 0, nextSeq: 0, failures: 0, retryAtMs: 0 };
    const { start, end } = peerBounds(peer);
    for (const { key, value } of this.storage.scan(start, end)) {
      state.count += 1;
      state.bytes += value.length;
      state.nextSeq = Number(new DataView(key.buffer, key.byteOffset).getBigUint64(key.length - 8)) + 1;
    }
    this.totalBytes += state.bytes;
    return state;
  }

  /** A member that joined: its hints are kept from now on (and any a previous run stored are counted). */
  addPeer(peer: string): void {
    if (!this.peers.has(peer)) this.peers.set(peer, this.load(peer));
  }

  /**
   * A member that left the ring (decommissioned, or replaced while dead): its hints can never be delivered,
   * so they are deleted and counted as dropped (`removed`). Resolves with how many.
   */
  async removePeer(peer: string): Promise<number> {
    // dropPeer reads the peer's hints before its first await: deleting the peer now means no hint is added
    // for it while they are removed.
    const dropped = this.dropPeer(peer);
    this.peers.delete(peer);
    return dropped;
  }

  async add(peer: string, record: VersionedRecord): Promise<boolean> {
    const state = this.peers.get(peer);
    if (state === undefined) throw new ConvergeError('PEER_UNKNOWN', `no peer named ${peer}`);
    const value = encodeHint(this.clock.now(), record);
    if (
      state.count >= this.limits.hintsPerPeerMax ||
      this.totalBytes + value.length > this.limits.hintBytesMax
    ) {
      this.counters.dropped.full += 1;
      return false;
    }
    if (this.storage.writeRefusal() !== undefined) {
      this.counters.dropped.storage += 1;
      return false;
    }
    const seq = state.nextSeq++;
    state.count += 1;
    state.bytes += value.length;
    this.totalBytes += value.length;
    try {
      await this.storage.write([{ key: hintKey(peer, seq), value }]);
    } catch (err) {
      // Not stored: the counts go back (the sequence number stays used, which is harmless).
      state.count -= 1;
      state.bytes -= value.length;
      this.totalBytes -= value.length;
      this.counters.dropped.storage += 1;
      throw err;
    }
    this.counters.stored += 1;
    return true;
  }

  /**
   * Drops every hint held for `peer` (a member replaced or removed: nobody will take them) and counts them
   * as `removed`; returns how many. Anti-entropy gives the records to the partitions' current owners.
   */
  async dropPeer(peer: string): Promise<number> {
    const state = this.peers.get(peer);
    if (state === undefined || state.count === 0) return 0;
    const { start, end } = peerBounds(peer);
    const keys = [...this.storage.scan(start, end)].map(({ key }) => ({ key, value: null }));
    if (keys.length > 0) await this.storage.write(keys);
    this.totalBytes -= state.bytes;
    this.counters.dropped.removed += keys.length;
    state.count = 0;
    state.bytes = 0;
    return keys.length;
  }

  pending(peer?: string): number {
    if (peer !== undefined) return this.peers.get(peer)?.count ?? 0;
    let n = 0;
    for (const s of this.peers.values()) n += s.count;
    return n;
  }

  bytes(): number {
    return this.totalBytes;
  }

  /**
   * Starts the replay of every peer whose hints are due and whose last replay has ended, and resolves once
   * those replays are under way: a peer that does not answer (a partition) holds up only its own replay, for
   * at most the request timeout, not the next tick nor the other peers. Called on the node's own tick.
   */
  async replayDue(deliver: HintDelivery, valueBytesMax: number): Promise<void> {
    if (this.storage.writeRefusal() !== undefined) return;
    const now = this.clock.now();
    for (const [peer, state] of this.peers) {
      if (state.count === 0 || now < state.retryAtMs || this.replaying.has(peer)) continue;
      this.replaying.add(peer);
      const done = (): boolean => this.replaying.delete(peer);
      void this.replayPeer(peer, state, deliver, valueBytesMax).finally(done);
    }
  }

  /** Never rejects: a failed replay is counted in the peer's backoff. */
  private async replayPeer(
    peer: string,
    state: PeerHints,
    deliver: HintDelivery,
    valueBytesMax: number,
  ): Promise<void> {
    try {
      await this.replayBatch(peer, state, deliver, valueBytesMax);
      state.failures = 0;
      state.retryAtMs = 0;
    } catch {
      state.failures += 1;
      const backoff = Math.min(this.limits.hintBackoffMsMax, 250 * 2 ** Math.min(state.failures, 16));
      state.retryAtMs = this.clock.now() + backoff * (0.5 + this.random.next() / 2);
    }
  }

  private async replayBatch(
    peer: string,
    state: PeerHints,
    deliver: HintDelivery,
    valueBytesMax: number,
  ): Promise<void> {
    const { start, end } = peerBounds(peer);
    const batch = [...this.storage.scan(start, end, this.limits.hintReplayBatchMax)];
    const now = this.clock.now();
    const send: VersionedRecord[] = [];
    for (const { value } of batch) {
      const created = new DataView(value.buffer, value.byteOffset).getFloat64(0);
      if (now - created > this.limits.hintAgeMsMax) this.counters.dropped.expired += 1;
      else send.push(...decodeRecords(value.subarray(8), valueBytesMax));
    }
    // Delivered: the peer applied the rest and refused those it will never take (stamped too far ahead, a
    // purged tombstone); sending them again cannot help.
    const refused = send.length > 0 ? await deliver(peer, send) : 0;
    this.counters.dropped.rejected += refused;
    this.counters.replayed -= refused;
    // Re-checked after the await: only the hints we read are deleted; newer ones stay queued.
    await this.storage.write(batch.map(({ key }) => ({ key, value: null })));
    for (const { value } of batch) {
      state.count -= 1;
      state.bytes -= value.length;
      this.totalBytes -= value.length;
    }
    this.counters.replayed += send.length;
  }
}
