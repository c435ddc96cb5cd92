// What anti-entropy keeps durably in the replica's metadata: session history (bounded), per-peer success
// times (the watermark's inputs), the tombstone purge bound, checkpoints of unfinished sessions, and an
// operator's pause (so repair paused for maintenance stays paused across a restart).

import type { LocalReplica } from '../replica/replica.js';
import type { SessionCounts, SessionHistoryEntry } from './types.js';

export const historyEntriesMax = 200;

export interface PeerRecord {
  lastSuccessStartedAtMs: number | null;
  lastSuccessEndedAtMs: number | null;
  /** The peer's own local watermark, as it told us last. */
  peerWatermarkMs: number | null;
}

export interface SessionCheckpoint {
  readonly id: string;
  readonly peer: string;
  readonly startedAtMs: number;
  readonly salt: number;
  readonly counts: SessionCounts;
  /** Reconciler.checkpoint() bytes, base64. */
  readonly frontier: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function readJson<T>(replica: LocalReplica, name: string): T | undefined {
  const bytes = replica.getMeta(name);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(dec.decode(bytes)) as T;
  } catch {
    return undefined; // an unreadable entry is treated as absent: anti-entropy state is rebuildable
  }
}

export class AntiEntropyState {
  history: SessionHistoryEntry[];
  peers: Record<string, PeerRecord>;
  purgedBeforeMs: number;
  tombstonesPurged: number;
  /** When an operator paused anti-entropy (local clock), null while it runs. */
  pausedSinceMs: number | null;

  constructor(private readonly replica: LocalReplica) {
    this.history = readJson<SessionHistoryEntry[]>(replica, 'ae/history') ?? [];
    this.peers = readJson<Record<string, PeerRecord>>(replica, 'ae/peers') ?? {};
    const gc = readJson<{ purgedBeforeMs: number; tombstonesPurged: number }>(replica, 'ae/gc');
    this.purgedBeforeMs = gc?.purgedBeforeMs ?? 0;
    this.tombstonesPurged = gc?.tombstonesPurged ?? 0;
    const pause = readJson<{ pausedSinceMs: number | null }>(replica, 'ae/pause');
    this.pausedSinceMs = typeof pause?.pausedSinceMs === 'number' ? pause.pausedSinceMs : null;
  }

  /** Records the pause (or its end) durably; the caller has already applied it in memory. */
  savePause(): Promise<void> {
    if (this.pausedSinceMs === null) return this.replica.deleteMeta('ae/pause');
    return this.replica.putMeta(
      'ae/pause',
      enc.encode(JSON.stringify({ pausedSinceMs: this.pausedSinceMs })),
    );
  }

  peer(id: string): PeerRecord {
    let p = this.peers[id];
    if (p === undefined) {
      p = { lastSuccessStartedAtMs: null, lastSuccessEndedAtMs: null, peerWatermarkMs: null };
      this.peers[id] = p;
    }
    return p;
  }

  /**
   * `nowMs`: this node's clock. A start time ahead of it (the initiator's clock ran ahead) counts as now: a
   * watermark input from the future would let tombstones be purged before a session proved them everywhere.
   */
  async record(entry: SessionHistoryEntry, nowMs?: number): Promise<void> {
    this.history.unshift(entry);
    if (this.history.length > historyEntriesMax) this.history.length = historyEntriesMax;
    if (entry.result === 'converged' || entry.result === 'repaired') {
      const p = this.peer(entry.peer);
      const startedAtMs = nowMs === undefined ? entry.startedAtMs : Math.min(entry.startedAtMs, nowMs);
      // A session counts from when it began; a later-finishing but earlier-started one never moves it back.
      if (p.lastSuccessStartedAtMs === null || startedAtMs > p.lastSuccessStartedAtMs)
        p.lastSuccessStartedAtMs = startedAtMs;
      p.lastSuccessEndedAtMs = entry.endedAtMs;
    }
    await this.replica.putMeta('ae/history', enc.encode(JSON.stringify(this.history)));
    await this.savePeers();
  }

  async savePeers(): Promise<void> {
    await this.replica.putMeta('ae/peers', enc.encode(JSON.stringify(this.peers)));
  }

  async saveGc(): Promise<void> {
    await this.replica.putMeta(
      'ae/gc',
      enc.encode(
        JSON.stringify({ purgedBeforeMs: this.purgedBeforeMs, tombstonesPurged: this.tombstonesPurged }),
      ),
    );
  }

  checkpoint(peer: string): SessionCheckpoint | undefined {
    return readJson<SessionCheckpoint>(this.replica, `ae/checkpoint/${peer}`);
  }

  saveCheckpoint(c: SessionCheckpoint): Promise<void> {
    return this.replica.putMeta(`ae/checkpoint/${c.peer}`, enc.encode(JSON.stringify(c)));
  }

  clearCheckpoint(peer: string): Promise<void> {
    return this.replica.deleteMeta(`ae/checkpoint/${peer}`);
  }
}
