// The package's root surface (docs/library.md): start a node inside a program, read its configuration and
// status types, and handle its errors. Importing it loads no native code: the server, lmdb and the
// anti-entropy wiring are imported when a node starts. The pure core, the storage engines, the replica, the
// cluster and anti-entropy each have their own entry (`converge/core`, `converge/storage`, ...).

import type { RunningNode, StartNodeOptions } from './server/server.js';

export type { AntiEntropyStatus, SessionHistoryEntry } from './antientropy/index.js';
export type {
  Consistency,
  NodeOwnStatus,
  PeerConfig,
  PeerStatus,
  ReadResult,
  WriteResult,
} from './cluster/node-types.js';
export type { NodeConfig } from './config/index.js';
export { resolveConfig } from './config/index.js';
export type { ErrorCode } from './core/errors.js';
export { ConvergeError, errorCodes } from './core/errors.js';
export { formatId } from './core/format.js';
export type { Version } from './core/hlc.js';
export type { NodeStatus } from './services/status.js';
export type { RunningNode, StartNodeOptions };

/**
 * Starts a node as `converge serve` does: storage, HTTP API and dashboard, and anti-entropy unless the
 * config switches it off. Stop it with `stop()` or the signal.
 */
export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  // Loaded here, not at import: the server opens lmdb, whose native binding a program that only reads the
  // types or handles the errors should not load.
  const server = await import('./server/server.js');
  return server.startNode(options);
}
