// Pulled records merged against storage off the event loop. Repair brings records by the hundred thousand,
// and decoding them, hashing their keys and fingerprints, encoding them for storage and reading the stored
// version of each was most of the CPU repair took from the node's event loop. A worker thread at low priority
// does that here (prepareRecords) against its own snapshot of the committed records; the event loop then only
// stages the winners (pending overlay, digest) and writes them (LocalReplica.applyPrepared).
//
// A decision made against the snapshot holds only if nothing changed the key since. The replica counts its
// changes in write epochs shared with the worker: one counter per bucket of keys (the first 16 bits of the
// token), raised when a change is staged and again when it is committed. The worker reads a key's counter
// before it renews its snapshot; if the counter differs when the event loop stages the record, or a change to
// the key is still pending, the event loop merges that record itself, the ordinary way.

import { type Hash64, tokenOf } from '../core/hash.js';
import { decodeRecordValue, encodeRecordValue, supersedes, type VersionedRecord } from '../core/record.js';
import type { Storage } from '../storage/storage.js';
import { recordKey } from './layout.js';

/** Buckets of write epochs: 2^16 counters, 256 KiB shared between the event loop and the worker. */
export const writeEpochBuckets = 2 ** 16;

export function writeEpochBucket(token: Uint8Array): number {
  return (token[0]! << 8) | token[1]!;
}

/**
 * Records that win against the committed state, packed for transfer, plus how many lost. A record that lost
 * may have lost to a version committed but not yet flushed (lmdb shows commits before their fsync ends): its
 * sender is another replica's anti-entropy, which keeps its own copy whatever the answer, so nothing depends
 * on the loser being durable here (unlike a hint, deleted once delivered: those go through `apply`).
 */
export interface PreparedRecords {
  /** Per winner: u16 storage key length, storage key, u32 value length, storage value, u8 flags (1: a stored
   * version exists, 2: it is a tombstone), u32 u32 its fingerprint, f64 its version time, u32 epoch seen. */
  readonly buf: ArrayBuffer;
  readonly winners: number;
  /** Records that lost to the committed version (older, or identical). */
  readonly losers: number;
}

/** What the event loop reads back for each winner; views into the transferred buffer. */
export interface PreparedRecord {
  readonly skey: Uint8Array;
  readonly token: Uint8Array;
  readonly record: VersionedRecord;
  /** The storage value of `record`, ready to write. */
  readonly value: Uint8Array;
  /** The committed version this record replaces, if any. */
  readonly stored: { readonly fp: Hash64; readonly tombstone: boolean; readonly ms: number } | undefined;
  readonly epoch: number;
}

const fixedBytes = 2 + 4 + 1 + 8 + 8 + 4;

/**
 * Merges `records` against committed storage: which would replace what is stored. The epochs are read before
 * the snapshot is renewed, so any change staged or committed after the snapshot shows as a different epoch.
 */
export function prepareRecords(
  storage: Pick<Storage, 'get'> & { renewReads?(): void },
  records: readonly VersionedRecord[],
  epochs: Uint32Array,
): PreparedRecords {
  const skeys = records.map((r) => recordKey(tokenOf(r.key), r.key));
  const seen = skeys.map((skey) => Atomics.load(epochs, writeEpochBucket(skey.subarray(1, 9))));
  storage.renewReads?.();
  const winners: Array<{ i: number; value: Uint8Array; stored: VersionedRecord | undefined }> = [];
  let bytes = 0;
  records.forEach((r, i) => {
    const raw = storage.get(skeys[i]!);
    const stored = raw === undefined ? undefined : decodeRecordValue(r.key, raw);
    if (!supersedes(r, stored)) return;
    const value = encodeRecordValue(r);
    winners.push({ i, value, stored });
    bytes += fixedBytes + skeys[i]!.length + value.length;
  });
  const buf = new ArrayBuffer(bytes);
  const out = new Uint8Array(buf);
  const view = new DataView(buf);
  let at = 0;
  for (const { i, value, stored } of winners) {
    const skey = skeys[i]!;
    view.setUint16(at, skey.length);
    out.set(skey, at + 2);
    at += 2 + skey.length;
    view.setUint32(at, value.length);
    out.set(value, at + 4);
    at += 4 + value.length;
    view.setUint8(at, stored === undefined ? 0 : stored.tombstone ? 3 : 1);
    view.setUint32(at + 1, stored?.fp[0] ?? 0);
    view.setUint32(at + 5, stored?.fp[1] ?? 0);
    view.setFloat64(at + 9, stored?.version.ms ?? 0);
    view.setUint32(at + 17, seen[i]!);
    at += 21;
  }
  return { buf, winners: winners.length, losers: records.length - winners.length };
}

/** The winners of a prepared batch, in the order they were prepared. */
export function* readPrepared(p: PreparedRecords): Iterable<PreparedRecord> {
  const view = new DataView(p.buf);
  let at = 0;
  for (let n = 0; n < p.winners; n++) {
    const skeyLength = view.getUint16(at);
    const skey = new Uint8Array(p.buf, at + 2, skeyLength);
    at += 2 + skeyLength;
    const valueLength = view.getUint32(at);
    const value = new Uint8Array(p.buf, at + 4, valueLength);
    at += 4 + valueLength;
    const flags = view.getUint8(at);
    const stored =
      (flags & 1) === 0
        ? undefined
        : {
            fp: [view.getUint32(at + 1), view.getUint32(at + 5)] as const,
            tombstone: (flags & 2) !== 0,
            ms: view.getFloat64(at + 9),
          };
    const epoch = view.getUint32(at + 17);
    at += 21;
    const key = skey.subarray(9);
    yield { skey, token: skey.subarray(1, 9), record: decodeRecordValue(key, value), value, stored, epoch };
  }
}
