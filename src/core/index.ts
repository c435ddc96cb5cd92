// The pure core: versions, records and merge, hashing, digests, reconciliation and the wire codec.
// No Node imports, no timers, no randomness, no I/O: it could run in a browser.
export * from './errors.js';
export * from './hlc.js';
export * from './hash.js';
export * from './record.js';
export * from './digest.js';
export * from './random.js';
export * from './timers.js';
export * from './wire.js';
export * from './wire-repair.js';
export * from './reconcile-types.js';
export * from './reconcile-shared.js';
export * from './reconcile-responder.js';
export * from './reconciler.js';
export * from './reconcile-driver.js';
export * from './repair-plan.js';
export * from './memory-reader.js';
export * from './sorted.js';
export * from './topology.js';
export * from './topology-claim.js';
export * from './topology-describe.js';
export * from './topology-watermark.js';
