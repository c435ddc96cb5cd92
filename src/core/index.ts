// The pure core, as a program embedding it sees it (`converge/core`): versions, records and merge, hashing,
// digests, reconciliation with its wire codec, repair planning, and the injected world's interfaces. No Node
// imports, no timers, no randomness, no I/O: it could run in a browser. Byte-level codec helpers, the
// reconciliation's shared heuristics, the failure log and the in-memory test replica stay internal.

export * from './digest.js';
export * from './errors.js';
export * from './format.js';
export * from './hash.js';
export * from './hlc.js';
export * from './membership.js';
export * from './membership-check.js';
export * from './membership-codec.js';
export * from './membership-driver.js';
export * from './membership-gossip.js';
export * from './membership-moves.js';
export * from './membership-replicas.js';
export * from './membership-status.js';
export * from './random.js';
export * from './reconcile-driver.js';
export * from './reconcile-responder.js';
export { type ReconcileLimits, reconcileLimitsDefault } from './reconcile-shared.js';
export * from './reconcile-types.js';
export * from './reconciler.js';
export * from './record.js';
export * from './repair-plan.js';
export * from './timers.js';
export * from './topology.js';
export * from './topology-claim.js';
export * from './topology-describe.js';
export * from './topology-watermark.js';
export type {
  RecordHeader,
  RequestItem,
  ResponseResult,
  RoundRequest,
  RoundResponse,
  WireNodeHash,
} from './wire.js';
export {
  branchBitsMax,
  childCount,
  decodeRoundRequest,
  decodeRoundResponse,
  encodeRoundRequest,
  encodeRoundResponse,
  entriesPerItemMax,
  keyBytesWireMax,
  MessageType,
  peekType,
  recordsPerMessageMax,
  roundItemsMax,
  valueBytesWireMax,
  wireMessageBytesMax,
  wireVersion,
} from './wire.js';
export * from './wire-repair.js';
