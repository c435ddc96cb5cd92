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
  /**
   * The start of the peer's last successful session with each of its own peers, as it told us last
   * (absent until it does, and from older nodes): the inputs of the per-partition watermark.
   */
  peerPairStartsMs?: Record<string, number | null>;
}

export interface SessionCheckpoint {
  readonly id: string;
  readonly peer: string;
  readonly startedAtMs: number;
  readonly salt: number;
  readonly counts: SessionCounts;
  /** Reconciler.checkpoint() bytes, base64. */
  readonly frontier: string;
  /**
   * The ring epoch and the partitions the session covers (absent: the whole tree, from an older node). A
   * checkpoint of another epoch or range is discarded: its frontier belongs to another scope.
   */
  readonly epoch?: number;
  readonly partitions?: readonly number[];
  /** A streaming session's fast path: where each chain of pages stands (stream-session.ts). */
  readonly stream?: unknown;
}

const enc = new TextEncoder();

function checkpointName(peer: string, streaming: boolean): string {
  return streaming ? `ae/checkpoint-streaming/${peer}` : `ae/checkpoint/${peer}`;
}
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
  /** The purge bound of every partition this node holds (the floor); some may be higher (below). */
  purgedBeforeMs: number;
  /** Partitions whose purge bound is above the floor: ring with RF < N, where watermarks differ. */
  partitionPurgedBeforeMs: Record<number, number>;
  tombstonesPurged: number;
  /** When an operator paused anti-entropy (local clock), null while it runs. */
  pausedSinceMs: number | null;

  constructor(private readonly replica: LocalReplica) {
    this.history = readJson<SessionHistoryEntry[]>(replica, 'ae/history') ?? [];
    this.peers = readJson<Record<string, PeerRecord>>(replica, 'ae/peers') ?? {};
    const gc = readJson<{
      purgedBeforeMs: number;
      tombstonesPurged: number;
      partitions?: Record<number, number>;
    }>(replica, 'ae/gc');
    this.purgedBeforeMs = gc?.purgedBeforeMs ?? 0;
    this.partitionPurgedBeforeMs = { ...gc?.partitions };
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
    if ((entry.result === 'converged' || entry.result === 'repaired') && entry.streaming !== true) {
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
    const partitions = this.partitionPurgedBeforeMs;
    const gc = { purgedBeforeMs: this.purgedBeforeMs, tombstonesPurged: this.tombstonesPurged };
    await this.replica.putMeta(
      'ae/gc',
      enc.encode(JSON.stringify(Object.keys(partitions).length === 0 ? gc : { ...gc, partitions })),
    );
  }

  /** The purge bound of one partition: the floor, or its own bound when that is higher. */
  boundOf(partition: number): number {
    return Math.max(this.purgedBeforeMs, this.partitionPurgedBeforeMs[partition] ?? 0);
  }

  /**
   * Raises partitions' bounds (never lowers one), then lifts the floor to the lowest bound among `owned` and
   * forgets bounds at or below it; answers whether anything rose (the caller saves before purging). With
   * every partition raised alike (RF = N) only the floor moves, as before partitions.
   */
  raiseBounds(raised: ReadonlyMap<number, number>, owned: readonly number[]): boolean {
    let changed = false;
    for (const [p, ms] of raised) {
      if (Number.isFinite(ms) && ms > this.boundOf(p)) {
        this.partitionPurgedBeforeMs[p] = ms;
        changed = true;
      }
    }
    if (owned.length > 0) {
      const floor = Math.min(...owned.map((p) => this.boundOf(p)));
      if (floor > this.purgedBeforeMs) this.purgedBeforeMs = floor;
    }
    for (const [p, ms] of Object.entries(this.partitionPurgedBeforeMs)) {
      if (ms <= this.purgedBeforeMs) delete this.partitionPurgedBeforeMs[Number(p)];
    }
    return changed;
  }

  /**
   * The checkpoint of the session with `peer`: a repair session's, or (`streaming`) a membership change's
   * streaming session's. They are kept apart: a repair session with the same peer must not discard a copy
   * part-way done, nor the copy the repair's frontier.
   */
  checkpoint(peer: string, streaming = false): SessionCheckpoint | undefined {
    return readJson<SessionCheckpoint>(this.replica, checkpointName(peer, streaming));
  }

  saveCheckpoint(c: SessionCheckpoint, streaming = false): Promise<void> {
    return this.replica.putMeta(checkpointName(c.peer, streaming), enc.encode(JSON.stringify(c)));
  }

  clearCheckpoint(peer: string, streaming = false): Promise<void> {
    return this.replica.deleteMeta(checkpointName(peer, streaming));
  }
}
