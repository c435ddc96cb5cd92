// Reading storage through the pending overlay: writes accepted by the replica but not yet committed are
// visible to reads and scans, so the digest (which includes them) and what a scan shows always agree.

import { decodeRecordValue, type VersionedRecord } from '../core/record.js';
import type { Storage } from '../storage/storage.js';
import { splitRecordKey } from './layout.js';

export interface OverlayEntry {
  readonly token: Uint8Array;
  /** null: a pending removal. */
  readonly record: VersionedRecord | null;
  /** Resolves when the batch holding this entry is committed. */
  committed?: Promise<void>;
}

export interface MergedEntry {
  readonly skey: string;
  readonly token: Uint8Array;
  readonly record: VersionedRecord | null;
}

export const toLatin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
export const fromLatin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

/**
 * One page of records in [from, to) in storage-key order, overlay applied (its removals appear with
 * record null). `next` is where the following page starts, undefined when the range is exhausted.
 * At most `limit` storage entries are read per page.
 */
export function scanMerged(
  storage: Storage,
  overlay: ReadonlyMap<string, OverlayEntry>,
  from: Uint8Array,
  to: Uint8Array,
  limit: number,
): { entries: MergedEntry[]; next: Uint8Array | undefined } {
  const raw = [...storage.scan(from, to, limit)];
  const full = raw.length === limit;
  const last = full ? toLatin1(raw[raw.length - 1]!.key) : undefined;
  const entries: MergedEntry[] = [];
  const seen = new Set<string>();
  for (const { key, value } of raw) {
    const skey = toLatin1(key);
    const pending = overlay.get(skey);
    const { token, key: userKey } = splitRecordKey(key);
    if (pending !== undefined) {
      seen.add(skey);
      entries.push({ skey, token: token.slice(), record: pending.record });
    } else {
      entries.push({ skey, token: token.slice(), record: decodeRecordValue(userKey.slice(), value) });
    }
  }
  if (overlay.size > 0) {
    const lo = toLatin1(from);
    const hi = last ?? toLatin1(to);
    let added = false;
    for (const [skey, pending] of overlay) {
      if (seen.has(skey) || skey < lo || (last === undefined ? skey >= hi : skey > hi)) continue;
      entries.push({ skey, token: pending.token, record: pending.record });
      added = true;
    }
    if (added) entries.sort((a, b) => (a.skey < b.skey ? -1 : a.skey > b.skey ? 1 : 0));
  }
  const next = last === undefined ? undefined : fromLatin1(`${last}\u0000`);
  return { entries, next };
}
