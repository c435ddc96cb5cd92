// The simulator's event loop: virtual time and one queue of events ordered by (time, sequence). Between two
// events every microtask runs to completion, so the real node code (promises all the way down) advances
// exactly as far as the event let it, and the same seed gives the same interleaving on every run.
// Events belong to an owner (a node incarnation, the network, a disk); a crashed incarnation's events never
// fire, which is how a process dies: its pending timers and callbacks simply never run again.

import type { Random } from '../core/random.js';
import type { Timers } from '../core/timers.js';

export interface Owner {
  readonly name: string;
  alive: boolean;
}

interface SimEvent {
  readonly atMs: number;
  readonly seq: number;
  readonly owner: Owner;
  fn: (() => void) | null;
}

export interface SchedulerLimits {
  /** Events one history may run; past it the history fails as a livelock. */
  readonly eventsMax: number;
}

export class LivelockError extends Error {}

export class Scheduler {
  /** Virtual milliseconds since the history began. */
  nowMs = 0;
  events = 0;
  private readonly heap: SimEvent[] = [];
  private seq = 0;

  constructor(private readonly limits: SchedulerLimits) {}

  /**
   * Runs `fn` after `delayMs` of virtual time, unless `owner` has died by then. Returns a cancel function.
   */
  schedule(owner: Owner, delayMs: number, fn: () => void): () => void {
    const event: SimEvent = { atMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, owner, fn };
    this.push(event);
    return () => {
      event.fn = null;
    };
  }

  /**
   * Runs `fn` at random moments `meanMs` apart on average (exponential gaps), for as long as `owner` lives.
   */
  repeatAtRandom(owner: Owner, random: Random, meanMs: number, fn: () => void): void {
    const next = (): void => {
      const gapMs = -Math.log(1 - random.next()) * meanMs;
      this.schedule(owner, gapMs, () => {
        fn();
        next();
      });
    };
    next();
  }

  sleep(owner: Owner, delayMs: number): Promise<void> {
    return new Promise((resolve) => this.schedule(owner, delayMs, resolve));
  }

  /** The Timers a node incarnation gets: virtual, and silent once the incarnation has crashed. */
  timers(owner: Owner): Timers {
    return {
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          if (signal?.aborted) {
            reject(signal.reason);
            return;
          }
          const onAbort = (): void => {
            cancel();
            reject(signal?.reason);
          };
          const cancel = this.schedule(owner, ms, () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      schedule: (ms, fn) => this.schedule(owner, ms, fn),
    };
  }

  /** Runs events in order until virtual time passes `untilMs` or `stop` says so. */
  async runUntil(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    // Whatever the caller set going synchronously (a node's boot) settles before the first event.
    await drainMicrotasks();
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.atMs > untilMs || stop()) break;
      this.pop();
      this.nowMs = next.atMs;
      if (next.fn === null || !next.owner.alive) continue;
      this.events += 1;
      if (this.events > this.limits.eventsMax) {
        throw new LivelockError(
          `more than ${this.limits.eventsMax} events (eventsMax): the history does not progress`,
        );
      }
      next.fn();
      await drainMicrotasks();
    }
    if (!stop()) this.nowMs = Math.max(this.nowMs, untilMs);
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = event;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/** Lets every queued promise continuation run: the macrotask queue is reached only once they are done. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
