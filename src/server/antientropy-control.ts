// What the HTTP API needs from the anti-entropy process (src/antientropy implements it).

import type {
  AntiEntropyStatus,
  OperatorActionEntry,
  RepairPreview,
  SessionHistoryEntry,
} from '../antientropy/types.js';

export interface AntiEntropyControl {
  status(): AntiEntropyStatus;
  runNow(peer?: string): Promise<SessionHistoryEntry[]>;
  /** Persists the pause (it survives a restart); resolves once stored. */
  pause(): Promise<void> | void;
  /** Cancels running sessions this node began (with `peer`, or all); answers the peers cancelled. */
  cancel(peer?: string): string[];
  resume(): Promise<void> | void;
  setThrottle(throttle: { recordsPerSecondMax?: number; bytesPerSecondMax?: number }): void;
  /**
   * Puts a control's call into the history: who (token name, null when open), which control, its parameters.
   */
  recordOperatorAction?(entry: Omit<OperatorActionEntry, 'atMs'>): OperatorActionEntry;
  preview(peer: string, limit: number): Promise<RepairPreview>;
}
