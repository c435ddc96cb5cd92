// A storage wrapper that turns a failing disk into a condition instead of a crash: after a failed write it
// refuses writes at once for `retryMs` (no commit is attempted, so nothing above is staged only to be
// undone), then lets the next write try again; the first write that succeeds ends the condition. Reads pass
// through. The node, its hints and anti-entropy ask `writeRefusal()` before staging work, and `/status` shows
// `health()`.

import { ConvergeError } from '../core/errors.js';
import type { ReaderSpec, Storage, StorageEntry, WriteOp } from './storage.js';

export interface StorageHealth {
  /** `failing` from the first failed write until a write succeeds again. */
  readonly state: 'ok' | 'failing';
  /** `DISK_FULL` or `STORAGE_FAILED`, null while ok. */
  readonly code: string | null;
  readonly message: string | null;
  /** When the current failure began (the clock given), null while ok. */
  readonly sinceMs: number | null;
  /** Writes are refused without trying until then; null while ok. */
  readonly retryAtMs: number | null;
  /** Failed writes since the start (commit failures, not refusals). */
  readonly failures: number;
  /** Writes refused without trying while failing, since the start. */
  readonly refused: number;
  /** Failing periods that ended by themselves, since the start. */
  readonly recoveries: number;
}

export interface GuardedStorageOptions {
  /** Wall-clock time, for the times the status shows. */
  readonly now: () => number;
  /**
   * A clock that never jumps (performance.now()), for the refusal window: measured on the wall clock, a clock
   * set back by a minute would refuse writes a minute longer. The wall clock when absent.
   */
  readonly monotonicNow?: () => number;
  /** How long writes are refused after a failure before one is tried again. */
  readonly retryMs?: number;
  /** Each failed write; `begins` for the first of a failing period. */
  readonly onFailure?: (error: ConvergeError, begins: boolean) => void;
  readonly onRecovery?: (failedForMs: number) => void;
}

export const storageRetryMsDefault = 1000;

export class GuardedStorage implements Storage {
  /**
   * The failing period: its wall-clock start (shown), and its start and retry time on the monotonic clock.
   */
  private failure: { error: ConvergeError; sinceMs: number; sinceMono: number; retryAtMono: number } | null =
    null;
  private failures = 0;
  private refused = 0;
  private recoveries = 0;
  private closed = false;

  constructor(
    readonly inner: Storage,
    private readonly options: GuardedStorageOptions,
  ) {}

  get engine(): string {
    return this.inner.engine;
  }

  readerSpec(): ReaderSpec | null {
    return this.inner.readerSpec();
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(key);
  }

  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry> {
    return this.inner.scan(start, end, limit);
  }

  /** The error a write would get right now without being tried, or undefined when writes may go ahead. */
  writeRefusal(): ConvergeError | undefined {
    const f = this.failure;
    if (f === null || this.mono() >= f.retryAtMono) return undefined;
    return f.error;
  }

  async write(ops: readonly WriteOp[]): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal !== undefined) {
      this.refused += 1;
      throw refusal;
    }
    try {
      await this.inner.write(ops);
    } catch (err) {
      throw this.failed(err);
    }
    const f = this.failure;
    if (f !== null) {
      this.failure = null;
      this.recoveries += 1;
      this.options.onRecovery?.(this.mono() - f.sinceMono);
    }
  }

  health(): StorageHealth {
    const f = this.failure;
    return {
      state: f === null ? 'ok' : 'failing',
      code: f?.error.code ?? null,
      message: f?.error.message ?? null,
      sinceMs: f?.sinceMs ?? null,
      retryAtMs: f === null ? null : this.options.now() + Math.max(0, f.retryAtMono - this.mono()),
      failures: this.failures,
      refused: this.refused,
      recoveries: this.recoveries,
    };
  }

  close(): Promise<void> {
    this.closed = true;
    return this.inner.close();
  }

  private mono(): number {
    return (this.options.monotonicNow ?? this.options.now)();
  }

  private failed(err: unknown): ConvergeError {
    const error =
      err instanceof ConvergeError
        ? err
        : new ConvergeError('STORAGE_FAILED', `storage write failed: ${String(err)}`);
    // A write that outlived the shutdown (a hint replay finishing late) says nothing about the disk.
    if (this.closed) return error;
    const monoMs = this.mono();
    const begins = this.failure === null;
    this.failures += 1;
    this.failure = {
      error,
      sinceMs: this.failure?.sinceMs ?? this.options.now(),
      sinceMono: this.failure?.sinceMono ?? monoMs,
      retryAtMono: monoMs + (this.options.retryMs ?? storageRetryMsDefault),
    };
    this.options.onFailure?.(error, begins);
    return error;
  }
}

/** The refusal of a guarded storage, or undefined for any other engine (which never refuses up front). */
export function writeRefusal(storage: Storage): ConvergeError | undefined {
  return storage instanceof GuardedStorage ? storage.writeRefusal() : undefined;
}

/** The health of a guarded storage, or null for any other engine. */
export function storageHealth(storage: Storage): StorageHealth | null {
  return storage instanceof GuardedStorage ? storage.health() : null;
}
