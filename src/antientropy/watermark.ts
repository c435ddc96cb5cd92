// The tombstone watermark, per partition. A session between two replicas compares every partition they
// share, so a partition's replicas are known to agree on everything written before the minimum, over every
// pair of its replicas, of the start of that pair's last successful session (core/topology-watermark.ts).
// This node knows its own pairs; each peer tells it, in the session's begin and end messages, the start of
// its last successful session with each of its own peers. A tombstone older than its partition's watermark,
// minus a grace for clock skew and write timeouts, is on every replica of that partition, so each may purge
// it on its own. A replica that is down stops the watermark of the partitions it holds, and only those: a
// node that does not hold a partition never holds back its purge. With RF = N every partition has the same
// replicas, and the watermark is the cluster-wide minimum of before partitions.

import type { Topology } from '../core/topology.js';
import { partitionWatermarkMs } from '../core/topology-watermark.js';
import type { AntiEntropyState } from './state.js';

/** What a peer says about its sessions, in begin and end messages (older nodes send only `watermarkMs`). */
export interface HeardWatermark {
  readonly watermarkMs?: unknown;
  readonly pairStartsMs?: unknown;
}

function pairStartsOf(value: unknown): Record<string, number | null> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, number | null> = {};
  for (const [id, ms] of Object.entries(value as Record<string, unknown>))
    out[id] = typeof ms === 'number' && Number.isFinite(ms) ? ms : null;
  return out;
}

export class Watermark {
  constructor(
    private readonly state: AntiEntropyState,
    private readonly self: string,
    private readonly topology: () => Topology,
    private readonly graceMs: number,
  ) {}

  private peersMemo: { ring: Topology; peers: string[] } | null = null;

  /** This node's anti-entropy peers: the members it shares a partition with (kept per ring: it is asked often). */
  private peers(): string[] {
    const ring = this.topology();
    if (this.peersMemo?.ring !== ring) this.peersMemo = { ring, peers: ring.peersOf(this.self) };
    return this.peersMemo.peers;
  }

  /** The start of this node's last successful session with each peer (what it tells its peers). */
  pairStarts(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const p of this.peers()) out[p] = this.state.peer(p).lastSuccessStartedAtMs;
    return out;
  }

  /** The earliest of this node's pairs: what older nodes exchange, and the status shows. */
  local(): number | null {
    let min: number | null = null;
    for (const p of this.peers()) {
      const t = this.state.peer(p).lastSuccessStartedAtMs;
      if (t === null) return null;
      min = min === null ? t : Math.min(min, t);
    }
    return min;
  }

  heard(peer: string, msg: HeardWatermark): void {
    if (!this.peers().includes(peer)) return;
    const record = this.state.peer(peer);
    record.peerWatermarkMs = typeof msg.watermarkMs === 'number' ? msg.watermarkMs : null;
    const pairs = pairStartsOf(msg.pairStartsMs);
    if (pairs === undefined) delete record.peerPairStartsMs;
    else record.peerPairStartsMs = pairs;
  }

  /** One member's view of its last successful session with another, as far as this node knows it. */
  private viewOf(a: string, b: string): number | null {
    if (a === this.self) return this.state.peers[b]?.lastSuccessStartedAtMs ?? null;
    const heard = this.state.peers[a];
    if (heard === undefined) return null;
    // An older node tells only its own minimum over its pairs: a lower bound for each of them.
    if (heard.peerPairStartsMs === undefined) return heard.peerWatermarkMs;
    return heard.peerPairStartsMs[b] ?? null;
  }

  /**
   * The pair's time: the earlier of the two members' views, unknown until both told. Not the later one: a
   * member whose clock runs behind refuses records stamped "in its future" while the session still succeeds,
   * and only its own view (on its slow clock) stays below what it refused. The simulator found that. With
   * RF = N this is the minimum over every view of every member: the cluster watermark of before the ring.
   */
  pairStartMs = (a: string, b: string): number | null => {
    const x = this.viewOf(a, b);
    const y = this.viewOf(b, a);
    return x === null || y === null ? null : Math.min(x, y);
  };

  /** The watermark of each partition this node holds (null while some pair of its replicas never met). */
  partitions(): Map<number, number | null> {
    const t = this.topology();
    const out = new Map<number, number | null>();
    for (const p of t.ownedBy(this.self)) out.set(p, partitionWatermarkMs(t, p, this.pairStartMs));
    return out;
  }

  /** The lowest watermark among this node's partitions (status), null while one is unknown. */
  cluster(): number | null {
    if (this.peers().length === 0) return null;
    let min: number | null = null;
    for (const w of this.partitions().values()) {
      if (w === null) return null;
      min = min === null ? w : Math.min(min, w);
    }
    return min;
  }

  /**
   * The bounds below which each held partition's tombstones may be purged now, capped at `capMs` (the clock
   * minus the grace: a partition with one replica has no one to wait for). Empty without peers: a lone node
   * never purges, as before partitions.
   */
  purgeBounds(capMs: number): Map<number, number> {
    const out = new Map<number, number>();
    if (this.peers().length === 0) return out;
    for (const [p, w] of this.partitions()) if (w !== null) out.set(p, Math.min(w - this.graceMs, capMs));
    return out;
  }

  /**
   * The lowest of the held partitions' bounds if above `current` (the bound every held partition may be
   * purged to), else null; purging itself uses purgeBounds, partition by partition.
   */
  purgeBeforeMs(current: number): number | null {
    const bounds = [...this.purgeBounds(Number.POSITIVE_INFINITY).values()];
    if (bounds.length === 0 || bounds.length < this.topology().ownedBy(this.self).length) return null;
    const bound = Math.min(...bounds);
    return bound > current ? bound : null;
  }

  describe(): { localMs: number | null; clusterMs: number | null } {
    return { localMs: this.local(), clusterMs: this.cluster() };
  }
}
