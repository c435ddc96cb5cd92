// How far this node's clock is from its peers', measured on its pings: each answer carries the peer's clock,
// and the round trip bounds the error. A sample stays usable after this node's wall clock jumps: the jump is
// the gap between wall time and monotonic time since the sample, and is taken off the measured offset; so the
// latest sample of each peer counts however old it is. A node whose clock is off from most of its measured
// peers by more than the drift bound stops coordinating writes. A peer that refuses this node's requests for
// their timestamp (cluster authentication's window) counts as off too. A node that reaches no peer cannot
// tell, and coordinates as before: its peers still refuse what it stamps too far ahead.

import type { Clock } from '../core/hlc.js';

export interface ClockSample {
  /** Peer clock minus this node's clock, at the middle of the round trip. */
  readonly offsetMs: number;
  readonly rttMs: number;
  /** This node's wall and monotonic clocks at the middle of the round trip. */
  readonly wallMidMs: number;
  readonly monoMidMs: number;
}

export interface ClockPeerView {
  readonly peer: string;
  /**
   * Peer clock minus this node's clock now (jumps of this node's clock since the sample included); null
   * when the peer refused this node's timestamp instead of answering.
   */
  readonly offsetMs: number | null;
  readonly rttMs: number | null;
  readonly sampleAgeMs: number;
  /** Off by more than the bound, even allowing for half the round trip. */
  readonly off: boolean;
}

export interface ClockView {
  readonly maxDriftMs: number;
  /** True when most peers measured recently find this clock off by more than the bound. */
  readonly skewed: boolean;
  readonly reason: string | null;
  readonly peers: readonly ClockPeerView[];
}

export class ClockCheck {
  private readonly samples = new Map<string, ClockSample>();
  /** Peers whose last answer refused this node's timestamp (no offset measured), with when (monotonic). */
  private readonly refusedBy = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly monoNow: () => number,
    readonly maxDriftMs: number,
  ) {}

  /** A ping's start (this node's clocks), to pass back to `record` with the answer. */
  begin(): { wallMs: number; monoMs: number } {
    return { wallMs: this.clock.now(), monoMs: this.monoNow() };
  }

  record(peer: string, sent: { wallMs: number; monoMs: number }, peerNowMs: number): void {
    if (!Number.isFinite(peerNowMs)) return;
    this.refusedBy.delete(peer);
    const wallMs = this.clock.now();
    const monoMs = this.monoNow();
    const wallMidMs = (sent.wallMs + wallMs) / 2;
    this.samples.set(peer, {
      offsetMs: peerNowMs - wallMidMs,
      rttMs: Math.max(0, monoMs - sent.monoMs),
      wallMidMs,
      monoMidMs: (sent.monoMs + monoMs) / 2,
    });
  }

  /** The peer refused a request for its timestamp: this clock is off from its by more than its window. */
  refused(peer: string): void {
    this.samples.delete(peer);
    this.refusedBy.set(peer, this.monoNow());
  }

  view(): ClockView {
    const wallMs = this.clock.now();
    const monoMs = this.monoNow();
    const peers: ClockPeerView[] = [];
    for (const [peer, s] of this.samples) {
      const sampleAgeMs = monoMs - s.monoMidMs;
      // A jump of this node's wall clock since the sample moves the offset by as much, the other way.
      const jumpMs = wallMs - s.wallMidMs - sampleAgeMs;
      const offsetMs = Math.round(s.offsetMs - jumpMs);
      const off = Math.abs(offsetMs) - s.rttMs / 2 > this.maxDriftMs;
      peers.push({ peer, offsetMs, rttMs: Math.round(s.rttMs), sampleAgeMs: Math.round(sampleAgeMs), off });
    }
    for (const [peer, atMs] of this.refusedBy) {
      peers.push({ peer, offsetMs: null, rttMs: null, sampleAgeMs: Math.round(monoMs - atMs), off: true });
    }
    const off = peers.filter((p) => p.off);
    const skewed = off.length > 0 && off.length * 2 > peers.length;
    const says = (p: ClockPeerView): string =>
      p.offsetMs === null
        ? `${p.peer} refuses its timestamps`
        : `its clock differs from ${p.peer}'s by ${-p.offsetMs} ms`;
    const reason = skewed ? `${off.map(says).join(', ')} (--max-clock-drift is ${this.maxDriftMs} ms)` : null;
    return { maxDriftMs: this.maxDriftMs, skewed, reason, peers };
  }
}
