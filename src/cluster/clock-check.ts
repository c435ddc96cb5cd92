// How far this node's clock is from its peers', measured on its pings: each answer carries the peer's clock,
// and the round trip bounds the error. A sample stays usable after this node's wall clock jumps: the jump is
// the gap between wall time and monotonic time since the sample, and is taken off the measured offset; so the
// latest sample of each peer counts however old it is. A node whose clock is off from most of its measured peers
// by more than the drift bound stops coordinating writes, and so does a node with peers that has not measured
// any of them since it started (a clock set wrong before a restart, while the peers are out of reach).

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
  /** Peer clock minus this node's clock now (jumps of this node's clock since the sample included). */
  readonly offsetMs: number;
  readonly rttMs: number;
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

  constructor(
    private readonly clock: Clock,
    private readonly monoNow: () => number,
    readonly maxDriftMs: number,
    private readonly peerCount: number,
  ) {}

  /** A ping's start (this node's clocks), to pass back to `record` with the answer. */
  begin(): { wallMs: number; monoMs: number } {
    return { wallMs: this.clock.now(), monoMs: this.monoNow() };
  }

  record(peer: string, sent: { wallMs: number; monoMs: number }, peerNowMs: number): void {
    if (!Number.isFinite(peerNowMs)) return;
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
    const off = peers.filter((p) => p.off);
    const unchecked = peers.length === 0 && this.peerCount > 0;
    const skewed = unchecked || (off.length > 0 && off.length * 2 > peers.length);
    const reason = unchecked
      ? 'it has not compared its clock with any peer since it started (no peer answered a ping yet)'
      : skewed
        ? `this node's clock differs from ${off.map((p) => `${p.peer}'s by ${-p.offsetMs} ms`).join(', ')}, ` +
          `more than --max-clock-drift ${this.maxDriftMs} ms`
        : null;
    return { maxDriftMs: this.maxDriftMs, skewed, reason, peers };
  }
}
