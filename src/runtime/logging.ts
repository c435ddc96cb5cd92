// Structured logs (pino, JSON lines on stderr so that stdout stays the command's own output) at the level
// `--log-level` names, and the background-failure counts as a metric of the node.

import { type DestinationStream, pino } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { ConvergeError } from '../core/errors.js';
import { backgroundFailures, type Logger } from '../core/failures.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof logLevels)[number];

function checkLevel(level: string): LogLevelName {
  if (!(logLevels as readonly string[]).includes(level)) {
    throw new ConvergeError('CONFIG_INVALID', `log-level ${level} is not one of ${logLevels.join(', ')}`);
  }
  return level as LogLevelName;
}

/** ISO times, so a person reading the log (and the operator log, docs/security.md) sees a date. */
function pinoOptions(level: LogLevelName): pino.LoggerOptions {
  return { level, timestamp: pino.stdTimeFunctions.isoTime };
}

/** Process loggers by level: nodes sharing a process share one writer per level. */
const loggers = new Map<LogLevelName, pino.Logger>();

/**
 * The process logger at `level` (stderr), installed as the sink of background failures, and a child that
 * names the node for its own lines.
 */
export function useLogger(level: string, nodeId: string, destination?: DestinationStream): Logger {
  const name = checkLevel(level);
  // A test that reads the lines gives its own destination; it gets a logger of its own.
  if (destination !== undefined)
    return pino({ ...pinoOptions(name), base: { pid: process.pid, node: nodeId } }, destination);
  let root = loggers.get(name);
  if (root === undefined) {
    root = pino(
      { ...pinoOptions(name), base: { pid: process.pid } },
      pino.destination({ dest: 2, sync: true }),
    );
    loggers.set(name, root);
  }
  backgroundFailures.logger = root;
  return root.child({ node: nodeId });
}

/** `converge_background_failures_total{what}`: every failure of background work, by what failed. */
export function registerFailureMetric(registry: Registry): void {
  new Counter({
    name: 'converge_background_failures_total',
    help: 'Failures of background work (sessions, purges, verification, read repair, hint replay), by what failed',
    labelNames: ['what'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [what, n] of Object.entries(backgroundFailures.snapshot())) this.inc({ what }, n);
    },
  });
}
