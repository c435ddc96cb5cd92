// Housekeeping on a replica: purging tombstones through the tombstone index (never a scan of all records)
// and verifying one digest leaf against storage (rot and drift), both through the same overlay and digest
// bookkeeping as applies.

import { prefixRange } from '../core/digest.js';
import { updateSymbols } from '../core/partition-symbols.js';
import { fpEquals, recomputeFingerprint, type VersionedRecord } from '../core/record.js';
import { recordBound, splitTombstoneKey, tombstoneBound } from './layout.js';
import type { LocalReplica } from './replica.js';

/**
 * Removes up to `limit` tombstones whose version time is before `beforeMs`. Index entries whose record has
 * moved on (overwritten since) are dropped as well. Returns the number of tombstones purged.
 */
/** A purge with bounds per partition: only tombstones from `fromMs` that `purgeable` accepts go. */
export interface PurgeFilter {
  readonly fromMs: number;
  readonly purgeable: (key: Uint8Array, ms: number) => boolean;
}

/** A filtered purge reads at most this many index entries per tombstone it may remove. */
export const purgeScanFactor = 4;

export async function purgeTombstones(
  replica: LocalReplica,
  beforeMs: number,
  limit: number,
  filter?: PurgeFilter,
): Promise<number> {
  const targets: Array<{ key: Uint8Array; expected: VersionedRecord }> = [];
  const stale: Uint8Array[] = [];
  const from = tombstoneBound(filter?.fromMs ?? 0);
  const scanMax = filter === undefined ? limit : limit * purgeScanFactor;
  for (const { key: ikey } of replica.storage.scan(from, tombstoneBound(beforeMs), scanMax)) {
    const { ms, key } = splitTombstoneKey(ikey);
    if (filter !== undefined && !filter.purgeable(key, ms)) continue;
    if (targets.length >= limit) break;
    const current = replica.get(key);
    if (current?.tombstone === true && current.version.ms === ms)
      targets.push({ key: key.slice(), expected: current });
    else stale.push(ikey);
  }
  if (stale.length > 0) await replica.storage.write(stale.map((key) => ({ key, value: null })));
  return replica.remove(targets);
}

export interface VerifyLeafResult {
  readonly leaf: number;
  readonly records: number;
  /** Records whose stored fingerprint does not match their contents. */
  readonly rotten: ReadonlyArray<{ key: Uint8Array; record: VersionedRecord }>;
  /** The maintained leaf differed from what storage holds (after setting rotten records aside). */
  readonly drift: boolean;
}

/**
 * Recomputes one leaf from storage and compares it with the maintained digest. Synchronous on purpose: no
 * write can interleave between reading the records and comparing. A drifted leaf is corrected in place;
 * rotten records are returned for the caller to remove (anti-entropy then pulls a good copy back from a
 * peer).
 */
export function verifyLeaf(replica: LocalReplica, leaf: number): VerifyLeafResult {
  const shadow = replica.symbolShadow;
  const bits = replica.digest.leafBits;
  const { start, end } = prefixRange(bits, leaf);
  let hi = 0;
  let lo = 0;
  let count = 0;
  const rotten: Array<{ key: Uint8Array; record: VersionedRecord }> = [];
  let from: Uint8Array | undefined = recordBound(start);
  const to = recordBound(end);
  while (from !== undefined) {
    const page = replica.scanPage(from, to, 4096);
    for (const e of page.entries) {
      if (e.record === null) continue;
      if (!fpEquals(recomputeFingerprint(e.record), e.record.fp))
        rotten.push({ key: e.record.key, record: e.record });
      // The stored fingerprint is what the digest holds; rot is reported separately.
      if (shadow !== null) updateSymbols(shadow.symbols, shadow.partitions, e.token, null, e.record.fp);
      hi = (hi ^ e.record.fp[0]) >>> 0;
      lo = (lo ^ e.record.fp[1]) >>> 0;
      count += 1;
    }
    from = page.next;
  }
  // From here on, changes to this leaf reach the verification's copy of the symbols as well.
  if (shadow !== null) shadow.leafEnd = leaf + 1;
  const drift = !replica.digest.nodeEquals(bits, leaf, { hi, lo, count });
  if (drift) replica.digest.setLeaf(leaf, { hi, lo, count });
  return { leaf, records: count, rotten, drift };
}
