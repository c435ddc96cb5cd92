// A replica: storage + digest + merge. Every change (client write, hint, read repair, anti-entropy) goes
// through `apply`, which merges, persists and updates the digest in one step.

export * from './drop-range.js';
export * from './layout.js';
export type { VerifyLeafResult } from './maintenance.js';
export type { RebuildProgress } from './rebuild.js';
export * from './replica.js';
export * from './types.js';
export * from './verify.js';
