// Rebuilding the digest (and the coded symbols beside it) from storage at startup, in slices, while reads and
// writes go on: writes to keys the scan has passed update the digest directly; writes to keys ahead of it are
// left for the scan to count.

import { updateSymbols } from '../core/partition-symbols.js';
import { recordBound } from './layout.js';
import { fromLatin1 } from './overlay.js';
import type { LocalReplica } from './replica.js';

export interface RebuildProgress {
  readonly scanned: number;
  readonly done: boolean;
}

export interface RebuildOptions {
  readonly sliceRecords: number;
  readonly yieldNow: () => Promise<void>;
  readonly onProgress: ((progress: RebuildProgress) => void) | undefined;
  /**
   * False once a newer rebuild has started (after a failed write): this one stops without touching the
   * digest.
   */
  readonly current?: () => boolean;
}

/** Returns false when a newer rebuild took over. */
export async function rebuildDigest(replica: LocalReplica, options: RebuildOptions): Promise<boolean> {
  const end = recordBound(undefined);
  let scanned = 0;
  for (;;) {
    // One slice is synchronous: no write can interleave between reading records and moving the cursor.
    const from = fromLatin1(replica.rebuildCursor!);
    const page = replica.scanPage(from, end, options.sliceRecords);
    for (const e of page.entries) {
      if (e.record === null) continue;
      replica.digest.update(e.token, null, e.record.fp);
      updateSymbols(replica.symbols, replica.partitionSymbols, e.token, null, e.record.fp);
    }
    scanned += page.entries.length;
    if (page.next === undefined) {
      // Still inside the last slice: a write queued behind this one must already see the digest as ready,
      // or it would skip the digest for a key the scan has passed.
      replica.rebuildCursor = null;
      break;
    }
    replica.rebuildCursor = Buffer.from(page.next).toString('latin1');
    options.onProgress?.({ scanned, done: false });
    await options.yieldNow();
    if (options.current !== undefined && !options.current()) return false;
  }
  options.onProgress?.({ scanned, done: true });
  return true;
}
