// What the page remembers between polls: every session it has seen in any node's history (nodes keep only
// their recent ones) and a sample of the divergence estimate per poll, both bounded, for the history chart.

import type { SessionHistoryEntry } from '../src/antientropy/types.js';
import type { ClusterView } from '../src/server/dashboard/types.js';

export const sessionsKeptMax = 500;
export const samplesKeptMax = 900;

export interface DivergenceSample {
  readonly atMs: number;
  /** null when some node could not be compared. */
  readonly keysEstimate: number | null;
}

/** A session as the page keeps it: both ends named, whichever node reported it. */
export interface SeenSession extends SessionHistoryEntry {
  /** The node that answered the initiator. */
  readonly responder: string;
  /** The node whose history this copy came from. */
  readonly reporter: string;
}

export class HistoryStore {
  private readonly sessions = new Map<string, SeenSession>();
  /** The history table's filter, kept here because panels are redrawn from scratch on every poll. */
  onlyRepairs = true;
  private readonly samples: DivergenceSample[] = [];

  /**
   * Adds the sessions of every node's history. Both ends report a session under the same id, each naming the
   * other as `peer`; the initiator's copy wins, so pulled and pushed read from the initiator's side.
   */
  addCluster(cluster: ClusterView): void {
    for (const node of cluster.nodes) {
      for (const entry of node.antiEntropy?.history ?? []) {
        const key = `${entry.initiator}/${entry.id}`;
        const fromInitiator = entry.initiator === node.id;
        if (!fromInitiator && this.sessions.get(key)?.reporter === entry.initiator) continue;
        const responder = fromInitiator ? entry.peer : node.id;
        this.sessions.set(key, { ...entry, responder, reporter: node.id });
      }
    }
    if (this.sessions.size > sessionsKeptMax) {
      const oldest = [...this.sessions.entries()].sort((x, y) => x[1].endedAtMs - y[1].endedAtMs);
      for (const [key] of oldest.slice(0, this.sessions.size - sessionsKeptMax)) this.sessions.delete(key);
    }
  }

  addSample(sample: DivergenceSample): void {
    this.samples.push(sample);
    if (this.samples.length > samplesKeptMax) this.samples.splice(0, this.samples.length - samplesKeptMax);
  }

  /** Sessions, oldest first. */
  sessionList(): SeenSession[] {
    return [...this.sessions.values()].sort((x, y) => x.endedAtMs - y.endedAtMs);
  }

  sampleList(): readonly DivergenceSample[] {
    return this.samples;
  }
}

/** Keys a session moved, either direction: what the chart calls "repaired keys". */
export function keysRepaired(entry: SessionHistoryEntry): number {
  return entry.keysPulled + entry.keysPushed;
}
