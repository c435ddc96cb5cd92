// Removing every record of a token range from this replica: what a former owner does with a partition once a
// membership change moved it elsewhere (after the cleanup grace), and what a would-be owner does with the
// partial copy a cancelled change left. Not a delete: no tombstone is written, the records simply go, and
// the digest follows (the replica's remove stages each removal like any write).

import type { LocalReplica } from './replica.js';

export interface DropRangeOptions {
  /** Records removed per storage batch; the event loop runs between batches. */
  readonly batchRecordsMax: number;
  readonly yieldNow: () => Promise<void>;
  /** Checked between batches: a drop stops early (returning what it removed so far) once it says so. */
  readonly stopped?: () => boolean;
}

/** Default records per batch of a range drop. */
export const dropBatchRecordsMaxDefault = 2048;

/**
 * Removes every record of [start, end); returns how many were removed. A record written meanwhile at a newer
 * version stays (remove takes only the version it read): the caller drops a range nobody writes to any more.
 */
export async function dropRange(
  replica: LocalReplica,
  start: Uint8Array,
  end: Uint8Array | undefined,
  options: DropRangeOptions,
): Promise<number> {
  let dropped = 0;
  for (;;) {
    const page = [...replica.scanTokens(start, end, options.batchRecordsMax)];
    if (page.length === 0) return dropped;
    const targets = page.map(({ record }) => ({ key: record.key.slice(), expected: record }));
    const removed = await replica.remove(targets);
    dropped += removed;
    // Nothing removed from a full page: every record was rewritten meanwhile; a later drop finishes.
    if (removed === 0 || page.length < options.batchRecordsMax || options.stopped?.() === true)
      return dropped;
    await options.yieldNow();
  }
}
