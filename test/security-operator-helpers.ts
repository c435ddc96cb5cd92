// Shared by the operator-role tests: a tokens file with one token of each kind, a one-node server on port 0
// (with anti-entropy, optionally with stand-in demo controls) and a log sink that keeps pino's lines.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RawSettings, resolveConfig } from '../src/config/config.js';
import type { DemoControls } from '../src/server/dashboard/types.js';
import { type RunningNode, startNode } from '../src/server/server.js';

export interface TokenSet {
  readonly dir: string;
  readonly file: string;
  readonly reader: string;
  readonly writer: string;
  readonly operator: string;
}

/** Names in the file: `grafana` (read-only), `app` (read-write), `ops-alice` (operator). */
export function writeTokens(): TokenSet {
  const dir = mkdtempSync(join(tmpdir(), 'converge-roles-'));
  const file = join(dir, 'tokens');
  const set = {
    dir,
    file,
    reader: randomBytes(32).toString('hex'),
    writer: randomBytes(32).toString('hex'),
    operator: randomBytes(32).toString('hex'),
  };
  writeFileSync(
    file,
    `read-only ${set.reader} grafana\nread-write ${set.writer} app\noperator ${set.operator} ops-alice\n`,
    { mode: 0o600 },
  );
  return set;
}

export interface LogSink {
  readonly lines: Array<Record<string, unknown>>;
  write(line: string): void;
}

export function logSink(): LogSink {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
}

/** Demo controls that only count calls, so the roles test can reach every demo route harmlessly. */
export function standInDemo(): DemoControls & { calls: string[] } {
  const calls: string[] = [];
  const state = () => ({ isolated: [], stopped: [], scenario: null });
  return {
    calls,
    state,
    isolate: async (n) => void calls.push(`isolate ${n}`),
    heal: async () => void calls.push('heal'),
    stop: async (n) => void calls.push(`stop ${n}`),
    start: async (n) => void calls.push(`start ${n}`),
    writeBurst: async () => ({ written: 0, failed: 0 }),
    setMechanism: async () => void calls.push('mechanism'),
  };
}

export interface SoloOptions {
  readonly id?: string;
  readonly dataDir: string;
  readonly settings?: RawSettings;
  readonly demo?: DemoControls;
  readonly log?: LogSink;
  readonly clusterSecret?: Buffer;
}

/** One node with anti-entropy and no peers, listening on a free port of 127.0.0.1. */
export function startSolo(options: SoloOptions): Promise<RunningNode> {
  const id = options.id ?? 'n1';
  const config = resolveConfig(
    { 'leaf-bits': '12', 'ae-interval': '1h', 'verify-start-delay': '1h', 'ae-serve-worker': false },
    options.settings ?? {},
    { id, listen: '127.0.0.1:0', data: join(options.dataDir, id), peers: '' },
  );
  return startNode({
    config,
    ...(options.demo === undefined ? {} : { demo: options.demo }),
    ...(options.clusterSecret === undefined ? {} : { clusterSecret: options.clusterSecret }),
    logDestination: options.log ?? { write: () => {} },
  });
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export const errorOf = (json: unknown): { code?: string; message?: string } =>
  (json as { error?: { code?: string; message?: string } } | undefined)?.error ?? {};
