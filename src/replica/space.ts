// A sub-space of the replica's storage: the keys under one prefix byte of the layout (layout.ts), seen
// without it. The replica hands these out (hints), so no one else borrows a prefix of the raw storage or
// could write into the records' space.

import type { ConvergeError } from '../core/errors.js';
import { writeRefusal } from '../storage/guarded.js';
import type { Storage, StorageEntry, WriteOp } from '../storage/storage.js';

/** The storage operations under one prefix, with keys relative to it. */
export interface StorageSpace {
  get(key: Uint8Array): Uint8Array | undefined;
  scan(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<StorageEntry>;
  write(ops: readonly WriteOp[]): Promise<void>;
  /** The error a write would get right now (a full disk, until its retry), or undefined. */
  writeRefusal(): ConvergeError | undefined;
}

export function prefixedSpace(storage: Storage, prefix: number): StorageSpace {
  const within = (key: Uint8Array): Uint8Array => {
    const out = new Uint8Array(1 + key.length);
    out[0] = prefix;
    out.set(key, 1);
    return out;
  };
  // The end of the whole space: the next prefix byte.
  const spaceEnd = Uint8Array.of(prefix + 1);
  return {
    get: (key) => storage.get(within(key)),
    *scan(start, end, limit) {
      const range = storage.scan(within(start), end === undefined ? spaceEnd : within(end), limit);
      for (const { key, value } of range) yield { key: key.subarray(1), value };
    },
    write: (ops) => storage.write(ops.map((op) => ({ key: within(op.key), value: op.value }))),
    writeRefusal: () => writeRefusal(storage),
  };
}
