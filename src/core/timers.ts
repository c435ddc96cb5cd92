// Time-based waiting is injected like the clock: the server uses real timers, the simulation a virtual
// event queue. Logic never calls setTimeout directly.

export interface Timers {
  /** Resolves after `ms` (virtual or real); rejects with the signal's reason if aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Runs `fn` after `ms`; returns a cancel function. */
  schedule(ms: number, fn: () => void): () => void;
}
