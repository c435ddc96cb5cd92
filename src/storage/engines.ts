// The storage engines by name (`--engine`): how a node opens its store, and how the repair worker's thread
// opens a second, read-only handle on it from the store's ReaderSpec. A new engine is one adapter that
// passes storage-contract.ts, plus its two lines here.

import { ConvergeError } from '../core/errors.js';
import { openLmdbStorage } from './lmdb.js';
import { createMemoryStorage } from './memory.js';
import type { ReaderSpec, Storage, StorageEngine, StorageReader, SyncPolicy } from './storage.js';

export interface EngineOptions {
  readonly path: string;
  readonly sync: SyncPolicy;
}

export function openStorageEngine(engine: StorageEngine, options: EngineOptions): Storage {
  return engine === 'lmdb' ? openLmdbStorage(options) : createMemoryStorage({ sync: options.sync });
}

/** Opens the second reader a store's spec describes (in the repair worker's thread). */
export function openStorageReader(spec: ReaderSpec): StorageReader {
  if (spec.engine === 'lmdb') return openLmdbStorage({ path: spec.path, sync: spec.sync });
  throw new ConvergeError('INTERNAL', `no reader for storage engine ${spec.engine}`);
}
