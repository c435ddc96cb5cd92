// The real world behind the injected interfaces: wall clock, Math.random and Node timers. The server wires
// these; the simulation wires virtual ones instead. Nothing in src/core may import this file.

import type { Clock } from '../core/hlc.js';
import type { Random } from '../core/random.js';
import type { Timers } from '../core/timers.js';

export const systemClock: Clock = { now: () => Date.now() };

export const systemRandom: Random = { next: () => Math.random() };

export const systemTimers: Timers = {
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(handle);
        reject(signal?.reason);
      };
      const handle = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  schedule(ms: number, fn: () => void): () => void {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};
