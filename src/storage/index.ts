// Storage engines: an ordered map of bytes with atomic batches (lmdb by default, memory for tests and the
// simulation) and the contract suite every engine runs.

export * from './engines.js';
export * from './fillable.js';
export * from './guarded.js';
export * from './lmdb.js';
export * from './memory.js';
export * from './storage.js';
