// The TypeScript client of a converge node: `import { Client } from 'converge/client'` (docs/client.md).

export type {
  AntiEntropyStatus,
  RepairPreview,
  RepairPreviewEntry,
  SessionHistoryEntry,
} from '../antientropy/types.js';
export type { BatchKeyResult, BatchResult, Consistency } from '../cluster/node-types.js';
export type { ErrorCode } from '../core/errors.js';
export { ConvergeError, errorCodes } from '../core/errors.js';
export type { NodeStatus } from '../services/status.js';
export type {
  BatchOperation,
  CallOptions,
  ClientOptions,
  ReadValue,
  WriteResult,
} from './client.js';
export { Client, clientDefaults, normaliseUrl } from './client.js';
export type { Applied } from './errors.js';
export { ConvergeClientError } from './errors.js';
