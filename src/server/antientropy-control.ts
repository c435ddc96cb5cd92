// What the HTTP API needs from the anti-entropy process (src/antientropy implements it).

import type { AntiEntropyStatus, RepairPreviewEntry, SessionHistoryEntry } from '../antientropy/types.js';

export interface AntiEntropyControl {
  status(): AntiEntropyStatus;
  runNow(peer?: string): Promise<SessionHistoryEntry[]>;
  /** Persists the pause (it survives a restart); resolves once stored. */
  pause(): Promise<void> | void;
  resume(): Promise<void> | void;
  setThrottle(throttle: { recordsPerSecondMax?: number; bytesPerSecondMax?: number }): void;
  preview(peer: string, limit: number): Promise<{ peer: string; entries: RepairPreviewEntry[]; truncated: boolean; divergent: number }>;
}
