// Background work whose failure nobody awaits (a session, a purge tick, a verification pass, a read repair)
// reports it here instead of swallowing it: counted by what failed, and logged. The logger is injected by the
// process (pino in the server, silent in the simulator and by default); the counts feed the node's metrics.
// One log per process: nodes sharing a process (the demo, tests) share it, and their counts add up.

/** The subset of pino's logger the project uses; any structured logger fits. */
export interface Logger {
  error(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => {};
export const silentLogger: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore };

/**
 * `warn` for a failure nobody else reports; `debug` where the same failure is already reported where it is
 * awaited (a session's outcome in its history, an apply's in its caller) and is counted here once more only
 * so that no rejection goes unaccounted.
 */
export type FailureLevel = 'warn' | 'debug';

/** Distinct `what`s kept, at most: the labels are fixed strings at the call sites, this only guards a bug. */
const failureKindsMax = 256;

export class FailureLog {
  logger: Logger = silentLogger;
  private readonly counts = new Map<string, number>();

  record(what: string, err: unknown, level: FailureLevel = 'warn'): void {
    const kind = this.counts.has(what) || this.counts.size < failureKindsMax ? what : 'other';
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const code = (err as { code?: unknown } | null)?.code;
    const fields = {
      what,
      err: err instanceof Error ? err.message : String(err),
      ...(typeof code === 'string' ? { code } : {}),
    };
    this.logger[level](fields, `${what} failed`);
  }

  /** Failures counted for `what`, or for everything. */
  count(what?: string): number {
    if (what !== undefined) return this.counts.get(what) ?? 0;
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** The process's failure log (its logger is set where the process is wired). */
export const backgroundFailures = new FailureLog();

/** A rejection handler for background work: `void work().catch(logFailure('purge tick'))`. */
export function logFailure(
  what: string,
  level: FailureLevel = 'warn',
  log: FailureLog = backgroundFailures,
): (err: unknown) => void {
  return (err) => log.record(what, err, level);
}
