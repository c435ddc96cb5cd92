// Finding and removing records stamped ahead of this node's clock: the operator's tool once a node whose
// clock ran ahead has stored some (docs/operations.md, "A clock running ahead"). No index orders records by
// version time, so finding them reads every record, a page at a time, yielding between pages.

import { versionToString } from '../core/hlc.js';
import type { VersionedRecord } from '../core/record.js';
import { recordBound } from './layout.js';
import type { LocalReplica } from './replica.js';

export interface AheadRecord {
  readonly key: string;
  readonly keyHex: string;
  readonly version: string;
  readonly aheadMs: number;
  readonly tombstone: boolean;
  /** The value, so that an operator can write it again (with a current version) after removing the record. */
  readonly valueBase64: string;
}

export interface AheadScan {
  readonly nowMs: number;
  readonly minAheadMs: number;
  readonly scanned: number;
  readonly records: AheadRecord[];
  /** More records were ahead than `limit` allowed to list. */
  readonly truncated: boolean;
}

/** Records read per page before the scan yields to the event loop. */
export const aheadScanPageRecords = 4096;

const decoder = new TextDecoder('utf-8', { fatal: true });

function printable(key: Uint8Array): string {
  try {
    return decoder.decode(key);
  } catch {
    return `0x${Buffer.from(key).toString('hex')}`;
  }
}

/** Every record stamped more than `minAheadMs` ahead of `nowMs` (at most `limit` listed, all counted). */
export async function scanAhead(
  replica: LocalReplica,
  nowMs: number,
  minAheadMs: number,
  limit: number,
  yieldNow: () => Promise<void>,
  found?: (r: VersionedRecord) => void,
): Promise<AheadScan> {
  const records: AheadRecord[] = [];
  let scanned = 0;
  let ahead = 0;
  let from: Uint8Array | undefined = recordBound(new Uint8Array(0));
  const to = recordBound(undefined);
  while (from !== undefined) {
    const page = replica.scanPage(from, to, aheadScanPageRecords);
    for (const { record } of page.entries) {
      if (record === null) continue;
      scanned += 1;
      const aheadMs = record.version.ms - nowMs;
      if (aheadMs <= minAheadMs) continue;
      ahead += 1;
      found?.(record);
      if (records.length >= limit) continue;
      records.push({
        key: printable(record.key),
        keyHex: Buffer.from(record.key).toString('hex'),
        version: versionToString(record.version),
        aheadMs,
        tombstone: record.tombstone,
        valueBase64: Buffer.from(record.value).toString('base64'),
      });
    }
    from = page.next;
    await yieldNow();
  }
  return { nowMs, minAheadMs, scanned, records, truncated: ahead > records.length };
}

/**
 * Removes this node's copies of the records stamped ahead (only the version found: a key written since
 * stays). Not a delete: no tombstone is written, so anti-entropy brings back the peers' versions of those
 * keys.
 */
export async function dropAhead(
  replica: LocalReplica,
  nowMs: number,
  minAheadMs: number,
  limit: number,
  yieldNow: () => Promise<void>,
): Promise<AheadScan & { dropped: number }> {
  const targets: Array<{ key: Uint8Array; expected: VersionedRecord }> = [];
  const scan = await scanAhead(replica, nowMs, minAheadMs, limit, yieldNow, (r) => {
    if (targets.length < limit) targets.push({ key: r.key.slice(), expected: r });
  });
  const dropped = targets.length === 0 ? 0 : await replica.remove(targets);
  return { ...scan, dropped };
}
