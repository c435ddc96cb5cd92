// The operator's side of the anti-entropy history: who ran, paused, resumed or throttled repair and when,
// kept durably (bounded) beside the session history, and the warnings for a pause or throttle left in force
// longer than warnAfterMs. It only records and describes; the process itself pauses and throttles.

import type { Clock } from '../core/hlc.js';
import type { LocalReplica } from '../replica/replica.js';
import type { OperatorActionEntry, OperatorView, Throttle } from './types.js';

export const operatorActionsMax = 100;
/** Actions shown in the status (the rest stay on disk up to operatorActionsMax). */
export const operatorActionsShownMax = 20;
export const operatorActionWarnAfterMsDefault = 60 * 60_000;

const metaKey = 'ae/operator-actions';

export class OperatorActions {
  private entries: OperatorActionEntry[];
  /** The last write of the history: a stop waits for it, so an answered action is not lost. */
  private persisting: Promise<void> = Promise.resolve();
  persistFailures = 0;

  constructor(
    private readonly replica: LocalReplica,
    private readonly clock: Clock,
    readonly warnAfterMs: number = operatorActionWarnAfterMsDefault,
  ) {
    this.entries = readEntries(replica);
  }

  /** Records one action now; persisting runs behind it, and a failure is logged and counted, not thrown. */
  record(entry: Omit<OperatorActionEntry, 'atMs'> & { atMs?: number }): OperatorActionEntry {
    const full: OperatorActionEntry = { ...entry, atMs: entry.atMs ?? this.clock.now() };
    this.entries.unshift(full);
    if (this.entries.length > operatorActionsMax) this.entries.length = operatorActionsMax;
    const bytes = new TextEncoder().encode(JSON.stringify(this.entries));
    this.persisting = this.replica.putMeta(metaKey, bytes).catch((err: unknown) => {
      this.persistFailures++;
      process.stderr.write(`converge: could not persist the operator action history: ${String(err)}\n`);
    });
    return full;
  }

  /** Resolves once every action recorded so far is stored (or its failure counted). */
  flushed(): Promise<void> {
    return this.persisting;
  }

  get all(): readonly OperatorActionEntry[] {
    return this.entries;
  }

  /** The view for the status, given the process's state now and the throttle it was configured with. */
  describe(paused: boolean, throttle: Throttle, configured: Throttle): OperatorView {
    const now = this.clock.now();
    const pause = paused ? this.latestSince('pause', 'resume') : undefined;
    const throttledNow =
      throttle.recordsPerSecondMax !== configured.recordsPerSecondMax ||
      throttle.bytesPerSecondMax !== configured.bytesPerSecondMax;
    const limit = throttledNow ? this.latestSince('throttle', null) : undefined;
    const warnings: string[] = [];
    const warn = (what: string, e: OperatorActionEntry | undefined): void => {
      if (e === undefined || now - e.atMs < this.warnAfterMs) return;
      const who = e.by === null ? 'an unauthenticated client (no client tokens)' : e.by;
      warnings.push(
        `${what} by ${who} for ${spell(now - e.atMs)} (since ${new Date(e.atMs).toISOString()}), ` +
          `longer than operatorActionWarnAfterMs ${this.warnAfterMs}`,
      );
    };
    warn('anti-entropy paused', pause);
    warn(
      `anti-entropy throttled to ${throttle.recordsPerSecondMax} records/s, ` +
        `${throttle.bytesPerSecondMax} bytes/s`,
      limit,
    );
    return {
      actions: this.entries.slice(0, operatorActionsShownMax),
      paused: paused ? { by: pause?.by ?? null, atMs: pause?.atMs ?? null } : null,
      throttled: throttledNow ? { by: limit?.by ?? null, atMs: limit?.atMs ?? null } : null,
      warnAfterMs: this.warnAfterMs,
      warnings,
    };
  }

  /** The newest `action` not followed by an `undo` (entries are newest first). */
  private latestSince(action: string, undo: string | null): OperatorActionEntry | undefined {
    for (const e of this.entries) {
      if (e.action === undo) return undefined;
      if (e.action === action) return e;
    }
    return undefined;
  }
}

function readEntries(replica: LocalReplica): OperatorActionEntry[] {
  const bytes = replica.getMeta(metaKey);
  if (bytes === undefined) return [];
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return Array.isArray(parsed) ? (parsed as OperatorActionEntry[]) : [];
  } catch {
    return []; // an unreadable history is dropped: it informs people, nothing depends on it
  }
}

/** 2h 5m, 3m 10s, 45s: enough to judge how long, without a library. */
export function spell(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
