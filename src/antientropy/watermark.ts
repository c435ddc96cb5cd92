// The tombstone watermark. A node's local watermark is the earliest start among its last successful sessions
// with each peer: every record it held before then has since been compared with, and repaired onto, every
// peer. The cluster watermark is the minimum over all nodes' local watermarks (each node tells its peers its
// own in session messages). A tombstone written before the cluster watermark, minus a grace for clock skew
// and write timeouts, is on every replica, so each node may purge it on its own. A node that is down stops
// the cluster watermark, so nothing it missed is ever purged.

import type { AntiEntropyState } from './state.js';

export class Watermark {
  constructor(
    private readonly state: AntiEntropyState,
    private readonly peers: readonly string[],
    private readonly graceMs: number,
  ) {}

  local(): number | null {
    let min: number | null = null;
    for (const p of this.peers) {
      const t = this.state.peer(p).lastSuccessStartedAtMs;
      if (t === null) return null;
      min = min === null ? t : Math.min(min, t);
    }
    return min;
  }

  heard(peer: string, watermarkMs: number | null): void {
    if (!this.peers.includes(peer)) return;
    this.state.peer(peer).peerWatermarkMs = watermarkMs;
  }

  cluster(): number | null {
    let min = this.local();
    if (min === null) return null;
    for (const p of this.peers) {
      const t = this.state.peer(p).peerWatermarkMs;
      if (t === null) return null;
      min = Math.min(min, t);
    }
    return min;
  }

  /** The bound below which tombstones may be purged now, never lower than the bound already used. */
  purgeBeforeMs(current: number): number | null {
    const cluster = this.cluster();
    if (cluster === null) return null;
    const bound = cluster - this.graceMs;
    return bound > current ? bound : null;
  }

  describe(): { localMs: number | null; clusterMs: number | null } {
    return { localMs: this.local(), clusterMs: this.cluster() };
  }
}
