// `converge diff`: what a session with a peer would repair, in which direction and why — discovery (the symbol
// path, then the tree descent unless it decoded, as a session chooses) without the repair step, so nothing is
// written on either side.

import { decodeJson } from '../cluster/codec.js';
import { prefixRange } from '../core/digest.js';
import { ConvergeError } from '../core/errors.js';
import { versionToString } from '../core/hlc.js';
import { reconcile } from '../core/reconcile-driver.js';
import type { Difference } from '../core/reconcile-types.js';
import { Reconciler } from '../core/reconciler.js';
import { differsOnlyByPurged, isPurgedTombstone, keyToString, type VersionedRecord } from '../core/record.js';
import { planKey } from '../core/repair-plan.js';
import { decodeRangeFetchResponse, encodeRangeFetchRequest, type RangeCursor } from '../core/wire-repair.js';
import { describeRange, sessionRange } from './ring.js';
import { reconcilerOptions } from './session.js';
import type { SessionEnv } from './session-env.js';
import { discoverBySymbols, symbolPathSkipped } from './symbol-session.js';
import type { RepairPreview, RepairPreviewEntry } from './types.js';

const printable = (key: Uint8Array): string => {
  try {
    return keyToString(key);
  } catch {
    return `0x${Buffer.from(key).toString('hex')}`;
  }
};

/** What a preview gathers while the descent runs. */
interface PreviewListing {
  readonly entries: RepairPreviewEntry[];
  readonly remoteRanges: Array<{ level: number; index: number }>;
  divergent: number;
  readonly limit: number;
  /** The larger of both purge bounds: a session raises both to it first, so nothing under it is listed. */
  readonly boundMs: number;
}

export async function previewRepairs(env: SessionEnv, peer: string, limit: number): Promise<RepairPreview> {
  // The same partitions a session with the peer would compare, and no others.
  const range = sessionRange(env.topology(), env.id, peer);
  const salt = Math.floor(env.random.next() * 2 ** 32) >>> 0;
  const reconciler = new Reconciler(env.replica, reconcilerOptions(env, salt, range.scope));
  const call = (body: Uint8Array): Promise<Uint8Array> =>
    env.transport.call(peer, { route: 'ae/msg', body, timeoutMs: env.limits.requestTimeoutMs });
  const boundMs = Math.max(env.purgedBeforeMs(), await peerPurgeBound(env, peer));
  const listing: PreviewListing = { entries: [], remoteRanges: [], divergent: 0, limit, boundMs };
  // The symbol path first, as a session chooses it. Nothing is repaired in between, so after a fallback the
  // descent finds everything again: only a decoded difference is listed from the symbol path.
  const symbols =
    symbolPathSkipped(env.replica, range.scope) === undefined
      ? await discoverBySymbols(env.replica, salt, call, undefined, range.scope)
      : undefined;
  if (symbols?.outcome?.kind === 'decoded') for (const d of symbols.differences) listDiff(env, listing, d);
  else
    await reconcile(reconciler, call, (diffs) => {
      for (const d of diffs) listDiff(env, listing, d);
    });
  await listRemoteRanges(env, listing, call);
  const { entries, divergent } = listing;
  const { range: rangeText, partitions, ranges } = describeRange(range);
  const discovery =
    symbols === undefined ? 'tree' : symbols.outcome?.kind === 'decoded' ? 'symbols' : 'symbols-then-tree';
  const truncated = divergent > entries.length;
  return { peer, entries, truncated, divergent, range: rangeText, partitions, ranges, discovery };
}

function listDiff(env: SessionEnv, listing: PreviewListing, d: Difference): void {
  const { entries, limit, boundMs } = listing;
  if (d.kind === 'local-range') {
    listing.divergent += d.records;
    const { start, end } = prefixRange(d.level, d.index);
    for (const { record } of env.replica.scanTokens(start, end, Math.max(0, limit - entries.length))) {
      if (isPurgedTombstone(record, boundMs)) {
        listing.divergent -= 1;
        continue;
      }
      entries.push({
        key: printable(record.key),
        direction: 'push',
        reason: `missing on peer (it holds nothing in this key range); local ${record.tombstone ? 'tombstone' : 'value'} ${versionToString(record.version)}`,
        local: versionToString(record.version),
        remote: null,
      });
    }
    return;
  }
  if (d.kind === 'remote-range') {
    listing.divergent += d.records;
    listing.remoteRanges.push(d);
    return;
  }
  if (differsOnlyByPurged(d.local, d.remote, boundMs)) return;
  listing.divergent += 1;
  if (entries.length >= limit) return;
  const p = planKey(d);
  entries.push({
    key: printable(d.key),
    direction: p.direction,
    reason: p.reason,
    local: d.local === undefined ? null : versionToString(d.local.version),
    remote: d.remote === undefined ? null : versionToString(d.remote.version),
  });
}

/**
 * Ranges this node holds nothing of: the peer's records there, read with the same range fetch a session
 * uses (a read on the peer), cursor to cursor, as many as the listing has room for.
 */
async function listRemoteRanges(
  env: SessionEnv,
  listing: PreviewListing,
  call: (body: Uint8Array) => Promise<Uint8Array>,
): Promise<void> {
  const { entries, limit, boundMs } = listing;
  for (const range of listing.remoteRanges) {
    let after: RangeCursor | undefined;
    do {
      const room = limit - entries.length;
      if (room <= 0) break;
      const res = decodeRangeFetchResponse(
        await call(
          encodeRangeFetchRequest({
            ranges: [range],
            recordsMax: Math.min(room, env.limits.repairBatchRecordsMax),
            ...(after === undefined ? {} : { after }),
          }),
        ),
      );
      const wanted = res.records.filter((r) => !isPurgedTombstone(r, boundMs));
      listing.divergent -= res.records.length - wanted.length;
      entries.push(...wanted.map(pullEntry));
      after = res.next;
    } while (after !== undefined);
  }
}

/** The peer's purge bound; 0 when it cannot tell (an older node), so only this node's own bound applies. */
async function peerPurgeBound(env: SessionEnv, peer: string): Promise<number> {
  try {
    const body = await env.transport.call(peer, {
      route: 'ae/purge-bound',
      body: new Uint8Array(0),
      timeoutMs: env.limits.requestTimeoutMs,
    });
    const msg = decodeJson(body) as { purgedBeforeMs?: unknown } | null;
    return typeof msg?.purgedBeforeMs === 'number' ? msg.purgedBeforeMs : 0;
  } catch (err) {
    if (err instanceof ConvergeError && err.code === 'NOT_FOUND') return 0;
    throw err;
  }
}

function pullEntry(record: VersionedRecord): RepairPreviewEntry {
  const version = versionToString(record.version);
  return {
    key: printable(record.key),
    direction: 'pull',
    reason: `missing locally (this node holds nothing in this key range); peer has ${record.tombstone ? 'tombstone' : 'value'} ${version}`,
    local: null,
    remote: version,
  };
}
