// The one registry of error codes. A world error (bad input, lost peer, full disk) is a ConvergeError with a
// stable code mapped to one HTTP status; a broken invariant is an assertion failure and stops the program.
// Every code here is documented in docs/errors.md (a test keeps the two in step).

export const errorCodes = {
  BAD_REQUEST: 400,
  KEY_INVALID: 400,
  KEY_TOO_LONG: 400,
  VALUE_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  CONSISTENCY_INVALID: 400,
  PROTOCOL_INVALID: 400,
  PROTOCOL_VERSION: 400,
  PROTOCOL_TOO_LARGE: 413,
  PEER_INCOMPATIBLE: 409,
  LIMIT_EXCEEDED: 400,
  NOT_FOUND: 404,
  PEER_UNKNOWN: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TOKEN_REQUIRED: 401,
  TOKEN_INVALID: 401,
  TOKEN_READ_ONLY: 403,
  TOKEN_NOT_OPERATOR: 403,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  CONFLICT: 409,
  CLOCK_AHEAD: 422,
  CLOCK_SKEWED: 503,
  RING_MISMATCH: 409,
  PARTITION_NOT_OWNED: 400,
  // Membership changes (src/core/membership*.ts): one change at a time, each step only from its state.
  CHANGE_IN_PROGRESS: 409,
  NO_CHANGE_IN_PROGRESS: 409,
  CHANGE_NOT_CANCELLABLE: 409,
  MEMBER_UNKNOWN: 404,
  MEMBER_EXISTS: 409,
  RANGE_NOT_STREAMED: 409,
  MEMBERSHIP_INVALID: 400,
  MEMBERSHIP_STALE: 409,
  UNAVAILABLE: 503,
  OVERLOADED: 503,
  BATCH_INVALID: 400,
  BATCH_TOO_LARGE: 413,
  TIMEOUT: 504,
  STORAGE_FAILED: 500,
  DISK_FULL: 507,
  CONFIG_INVALID: 400,
  DATA_DIR_LOCKED: 409,
  INTERNAL: 500,
  // Raised by the client (src/client) when no usable answer came; a node never sends these.
  NODE_UNREACHABLE: 503,
  NOT_A_NODE: 502,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class ConvergeError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ConvergeError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return errorCodes[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return this.details === undefined
      ? { error: { code: this.code, message: this.message } }
      : { error: { code: this.code, message: this.message, details: { ...this.details } } };
  }
}

/** Programmer errors: a broken invariant stops the program instead of corrupting data. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
