// Reading storage through the pending overlay: writes accepted by the replica but not yet committed are
// visible to reads and scans, so the digest (which includes them) and what a scan shows always agree. The
// overlay keeps its keys in order too, so a scan finds the pending entries in its range by binary search.

import { decodeRecordValue, type VersionedRecord } from '../core/record.js';
import { lowerBound, mergeSortedUnique } from '../core/sorted.js';
import type { Storage } from '../storage/storage.js';
import { recordBound, splitRecordKey } from './layout.js';

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

/**
 * Bytes as a string of the same code units. Short keys (the usual case) go through fromCharCode: a Buffer
 * view of a small on-heap array forces V8 to move it off the heap first, which costs more than the copy.
 */
export const toLatin1 = (bytes: Uint8Array): string =>
  bytes.length <= latin1ShortMax
    ? String.fromCharCode.apply(null, bytes as unknown as number[])
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
const latin1ShortMax = 256;
export const fromLatin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

/** Storage entries read per page of a scan. */
export const scanPageRecords = 1024;

/**
 * The records whose tokens lie in [start, end) (end undefined: to the end), in storage-key order, overlay
 * applied and removals left out, read a page of `pageRecords` at a time; at most `limit` of them.
 */
export function* scanTokenRecords(
  storage: Pick<Storage, 'scan'>,
  overlay: Overlay,
  start: Uint8Array,
  end: Uint8Array | undefined,
  pageRecords: number,
  limit = Number.POSITIVE_INFINITY,
): Iterable<{ token: Uint8Array; record: VersionedRecord }> {
  let from: Uint8Array | undefined = recordBound(start);
  const to = recordBound(end);
  let left = limit;
  while (from !== undefined && left > 0) {
    const page = scanMerged(storage, overlay, from, to, Math.min(pageRecords, left));
    for (const e of page.entries) {
      if (e.record === null) continue;
      yield { token: e.token, record: e.record };
      left -= 1;
    }
    from = page.next;
  }
}

/**
 * One page of records in [from, to) in storage-key order, overlay applied (its removals appear with
 * record null). `next` is where the following page starts, undefined when the range is exhausted.
 * At most `limit` storage entries are read per page.
 */
export function scanMerged(
  storage: Pick<Storage, 'scan'>,
  overlay: Overlay,
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
    let added = false;
    for (const skey of overlay.keysBetween(toLatin1(from), last ?? toLatin1(to), last !== undefined)) {
      if (seen.has(skey)) continue;
      const pending = overlay.get(skey)!;
      entries.push({ skey, token: pending.token, record: pending.record });
      added = true;
    }
    if (added) entries.sort((a, b) => (a.skey < b.skey ? -1 : a.skey > b.skey ? 1 : 0));
  }
  const next = last === undefined ? undefined : fromLatin1(`${last}\u0000`);
  return { entries, next };
}

/**
 * The pending entries by latin1 storage key, with the keys also kept in order. Repair keeps thousands of
 * entries pending, and scans run per digest leaf (verification, reconciliation): walking every pending entry
 * per scan made each page cost O(pending). Keys added since the last scan are sorted and merged in lazily,
 * deleted keys are dropped at the same time; a scan that follows no change costs a binary search.
 */
const addedSlack = 64;

export class Overlay extends Map<string, OverlayEntry> {
  /** In order, without duplicates; may still hold keys deleted since the last merge (skipped on read). */
  private sorted: string[] = [];
  /** Keys set since the last merge that were not in the map when set. */
  private added: string[] = [];
  private deleted = 0;

  override set(key: string, entry: OverlayEntry): this {
    const isNew = !this.has(key);
    super.set(key, entry);
    if (isNew) {
      this.added.push(key);
      // Writes without scans in between (a node that only takes writes) would grow the list for ever, and the
      // first scan would then sort all of it at once (100,000 keys after a bulk load: tens of ms in one
      // task). Keys committed meanwhile, and repeats of a key set, committed and set again, are dropped here
      // (the one just set is in the map by now); amortised, each key is looked at a constant number of times.
      if (this.added.length > 2 * this.size + addedSlack) {
        const kept = new Set<string>();
        for (const k of this.added) if (this.has(k)) kept.add(k);
        this.added = [...kept];
      }
    }
    return this;
  }

  /** Keys set since the last merge (bounded by about twice the pending entries). */
  get unmerged(): number {
    return this.added.length;
  }

  override delete(key: string): boolean {
    const had = super.delete(key);
    if (had) this.deleted += 1;
    return had;
  }

  override clear(): void {
    super.clear();
    this.sorted = [];
    this.added = [];
    this.deleted = 0;
  }

  /** Pending keys k with lo <= k < hi (k <= hi when `hiInclusive`), in order. */
  keysBetween(lo: string, hi: string, hiInclusive: boolean): string[] {
    this.merge();
    const out: string[] = [];
    for (let i = lowerBound(this.sorted, lo); i < this.sorted.length; i++) {
      const key = this.sorted[i]!;
      if (hiInclusive ? key > hi : key >= hi) break;
      if (this.has(key)) out.push(key);
    }
    return out;
  }

  private merge(): void {
    // Deleted keys are skipped on read; they alone trigger a merge only once they are half the list.
    if (this.added.length === 0 && this.deleted * 2 <= this.sorted.length) return;
    // A key deleted and set again may sit in both lists, or twice among the added: the merge keeps one.
    this.sorted = mergeSortedUnique(this.sorted, this.added.sort()).filter((key) => this.has(key));
    this.added = [];
    this.deleted = 0;
  }
}
