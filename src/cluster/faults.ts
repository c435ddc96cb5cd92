// Fault injection shared by the transports: the loopback tests and the demo's scenarios isolate nodes and
// drop messages through the real code path instead of stopping processes.

import type { Random } from '../core/random.js';

export class TransportFaults {
  /** Peers this node cannot reach (and, when the demo isolates a node, that cannot reach it). */
  private readonly blocked = new Set<string>();
  /** Probability of losing a request on the way, per peer ('*' for every peer). */
  private readonly dropRates = new Map<string, number>();
  /** Requests lost by random loss (not by a block), per route and peer: what the scenarios report. */
  private readonly randomDrops = new Map<string, number>();

  constructor(private readonly random: Random) {}

  block(peer: string): void {
    this.blocked.add(peer);
  }

  unblock(peer: string): void {
    this.blocked.delete(peer);
  }

  setDropRate(peer: string, rate: number): void {
    if (rate <= 0) this.dropRates.delete(peer);
    else this.dropRates.set(peer, Math.min(1, rate));
  }

  healAll(): void {
    this.blocked.clear();
    this.dropRates.clear();
  }

  isBlocked(peer: string): boolean {
    return this.blocked.has(peer);
  }

  /** Decides whether this request is lost: blocked peers always, others by their drop rate. */
  drops(peer: string, route: string): boolean {
    if (this.blocked.has(peer)) return true;
    // Anti-entropy traffic is exempt from random loss, so the dropped-writes scenario shows what it heals.
    if (route.startsWith('ae/')) return false;
    const rate = this.dropRates.get(peer) ?? this.dropRates.get('*') ?? 0;
    const lost = rate > 0 && this.random.next() < rate;
    const key = `${route} ${peer}`;
    if (lost) this.randomDrops.set(key, (this.randomDrops.get(key) ?? 0) + 1);
    return lost;
  }

  /** Requests on `route` to `peer` this node lost to random loss since it started. */
  randomlyDropped(route: string, peer: string): number {
    return this.randomDrops.get(`${route} ${peer}`) ?? 0;
  }

  snapshot(): { blocked: string[]; dropRates: Record<string, number> } {
    return { blocked: [...this.blocked].sort(), dropRates: Object.fromEntries(this.dropRates) };
  }
}
