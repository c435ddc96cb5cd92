// The responder side of reconciliation: stateless, so any request can be answered by any incarnation of the
// node (restarts, retries) and a session needs no state on the peer. It only reads its replica.

import { prefixRange } from './digest.js';
import { ConvergeError } from './errors.js';
import {
  fpKey,
  preferEntries,
  type ReconcileLimits,
  reconcileLimitsDefault,
  saltedHash,
} from './reconcile-shared.js';
import type { ReplicaReader } from './reconcile-types.js';
import {
  childCount,
  decodeRoundRequest,
  encodeRoundResponse,
  entriesPerItemMax,
  type RecordHeader,
  type RequestItem,
  type ResponseResult,
  type WireNodeHash,
} from './wire.js';
import { recordWireBytes } from './wire-repair.js';

export interface ResponderLimits extends ReconcileLimits {
  /** Stop answering further items once the response is this large (the initiator resends the rest). */
  readonly responseBytesMax: number;
  /**
   * Stop answering further items once the answer took this long to build (listing records reads storage):
   * it bounds how long one round holds the event loop, whatever the items cost. Measured with `busyNow`.
   */
  readonly roundBusyMsMax?: number;
  /** Milliseconds from a monotonic clock; the simulation's virtual clock never advances within a round. */
  readonly busyNow?: () => number;
}

export const responderLimitsDefault: ResponderLimits = {
  ...reconcileLimitsDefault,
  responseBytesMax: 4 * 2 ** 20,
};

const noClock = (): number => 0;

export function respondRound(
  reader: ReplicaReader,
  bytes: Uint8Array,
  limits: ResponderLimits = responderLimitsDefault,
): Uint8Array {
  const req = decodeRoundRequest(bytes);
  const leafBits = reader.digest.leafBits;
  if (req.leafBits !== leafBits) {
    throw new ConvergeError(
      'CONFLICT',
      `digest shapes differ: the peer has ${req.leafBits} leaf bits, this node ${leafBits}`,
    );
  }
  const session: ReconcileLimits = { branchBits: req.branchBits, entriesMax: limits.entriesMax };
  const results: ResponseResult[] = [];
  let size = 0;
  let processed = 0;
  const { roundBusyMsMax = Number.POSITIVE_INFINITY, busyNow = noClock } = limits;
  const startedAt = busyNow();
  for (const item of req.items) {
    if (processed > 0 && (size > limits.responseBytesMax || busyNow() - startedAt >= roundBusyMsMax)) break;
    size += answerItem(reader, item, req.salt, session, results);
    processed += 1;
  }
  return encodeRoundResponse({ processed, results }, leafBits, req.branchBits);
}

/** Appends the results for one item; returns their estimated size in bytes. */
function answerItem(
  reader: ReplicaReader,
  item: RequestItem,
  salt: number,
  limits: ReconcileLimits,
  out: ResponseResult[],
): number {
  const digest = reader.digest;
  if (item.kind === 'root' || item.kind === 'node') {
    const own = digest.node(item.level, item.index);
    if (saltedHash(own, salt) === item.node.hash && own.count === item.node.count) {
      out.push({ kind: 'equal', level: item.level, index: item.index });
      return 8;
    }
    return describeDiffering(reader, item.level, item.index, item.node.count, salt, limits, out);
  }
  if (item.kind === 'children') {
    const c = Math.log2(item.children.length);
    let size = 0;
    for (const [j, theirs] of item.children.entries()) {
      const level = item.level + c;
      const index = item.index * item.children.length + j;
      const own = digest.node(level, index);
      if (saltedHash(own, salt) === theirs.hash && own.count === theirs.count) continue;
      size += describeDiffering(reader, level, index, theirs.count, salt, limits, out);
    }
    return size;
  }
  return diffEntries(reader, item.level, item.index, item.fps, out);
}

/**
 * What the responder says about a node that differs: empty, small (send entries), all headers, or children.
 */
function describeDiffering(
  reader: ReplicaReader,
  level: number,
  index: number,
  initiatorCount: number,
  salt: number,
  limits: ReconcileLimits,
  out: ResponseResult[],
): number {
  const digest = reader.digest;
  const own = digest.node(level, index);
  if (own.count === 0) {
    out.push({ kind: 'small', level, index, count: 0 });
    return 8;
  }
  // The initiator has nothing here: it fetches the whole range in one step (no headers, no key list).
  if (initiatorCount === 0 || preferEntries(level, digest.leafBits, limits, initiatorCount, own.count)) {
    out.push({ kind: 'small', level, index, count: own.count });
    return 8;
  }
  const n = childCount(level, digest.leafBits, limits.branchBits);
  const children: WireNodeHash[] = [];
  for (let j = 0; j < n; j++) {
    const child = digest.node(level + Math.log2(n), index * n + j);
    children.push({ hash: saltedHash(child, salt), count: child.count });
  }
  out.push({ kind: 'children', level, index, children });
  return 6 + n * 5;
}

function diffEntries(
  reader: ReplicaReader,
  level: number,
  index: number,
  fps: readonly (readonly [number, number])[],
  out: ResponseResult[],
): number {
  const { start, end } = prefixRange(level, index);
  const own = [...reader.scanTokens(start, end, entriesPerItemMax + 1)];
  if (own.length > entriesPerItemMax) {
    out.push({ kind: 'too-many', level, index, count: own.length });
    return 8;
  }
  const theirs = new Set(fps.map(fpKey));
  const ownKeys = new Set(own.map((e) => fpKey(e.record.fp)));
  const missing = new Uint8Array(Math.ceil(fps.length / 8));
  fps.forEach((fp, i) => {
    if (!ownKeys.has(fpKey(fp))) missing[i >> 3]! |= 1 << (i & 7);
  });
  const headers: RecordHeader[] = [];
  let size = 8 + missing.length;
  for (const { record } of own) {
    if (theirs.has(fpKey(record.fp))) continue;
    headers.push({ key: record.key, version: record.version, tombstone: record.tombstone, fp: record.fp });
    size += recordWireBytes({ key: record.key });
  }
  out.push({ kind: 'diff', level, index, missing, headers });
  return size;
}
