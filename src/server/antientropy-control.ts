// What the HTTP API needs from the anti-entropy process (src/antientropy implements it).

import type { AntiEntropyStatus, SessionHistoryEntry } from '../antientropy/types.js';

export interface RepairPreviewEntry {
  readonly key: string;
  readonly direction: 'pull' | 'push';
  readonly reason: string;
  readonly local: string | null;
  readonly remote: string | null;
}

export interface AntiEntropyControl {
  status(): AntiEntropyStatus;
  runNow(peer?: string): Promise<SessionHistoryEntry[]>;
  pause(): void;
  resume(): void;
  setThrottle(throttle: { recordsPerSecondMax?: number; bytesPerSecondMax?: number }): void;
  preview(peer: string, limit: number): Promise<{ peer: string; entries: RepairPreviewEntry[]; truncated: boolean }>;
}
