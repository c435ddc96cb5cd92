// Decisions both sides of a reconciliation make the same way: how a digest node is summarised on the wire
// (a session-salted 32-bit hash: a collision can hide a difference for one session only, since the next
// session uses another salt), and when listing a node's fingerprints is cheaper than descending further.

import type { DigestNode } from './digest.js';
import { childCount } from './wire.js';
import { recordOverheadBytes } from './wire-repair.js';

export interface ReconcileLimits {
  /** Digest levels descended per half round trip (4 children per node at 2). */
  readonly branchBits: number;
  /** A node with more records than this on either side is never listed, always descended. */
  readonly entriesMax: number;
}

export const reconcileLimitsDefault: ReconcileLimits = { branchBits: 2, entriesMax: 4096 };

/** Mixes a node's 64-bit XOR and count with the session salt into 32 bits. */
export function saltedHash(node: DigestNode, salt: number): number {
  let h = Math.imul((node.hi ^ salt) >>> 0, 0x85ebca6b) ^ node.lo;
  h = Math.imul((h ^ (h >>> 13)) >>> 0, 0xc2b2ae35);
  h ^= Math.imul(
    (node.lo ^ ((salt << 11) | (salt >>> 21)) ^ Math.imul(node.count, 0x9e3779b1)) >>> 0,
    0x27d4eb2f,
  );
  h = Math.imul((h ^ (h >>> 16)) >>> 0, 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Estimated bytes per wire node hash (4-byte hash + a short varint count). */
const nodeHashBytes = 5;
const fingerprintBytes = 8;
/** A key's length as the cost model assumes it (it does not see the keys it weighs). */
const keyBytesTypical = 8;
/** Estimated bytes per record header in an answer: the one per-record estimate, with a typical key. */
const headerBytes = recordOverheadBytes + keyBytesTypical;

/**
 * True when exchanging the fingerprints of the records under a differing node is expected to cost fewer
 * bytes than descending one more step (whose children are mostly equal when few keys differ). A list costs
 * the initiator's fingerprints plus a header for each record the responder holds beyond them (which then has
 * to be fetched by key); descending lets the parts the initiator holds nothing of be fetched as whole ranges.
 */
export function preferEntries(
  level: number,
  leafBits: number,
  limits: ReconcileLimits,
  initiatorCount: number,
  responderCount: number,
): boolean {
  if (Math.max(initiatorCount, responderCount) > limits.entriesMax) return level >= leafBits;
  if (level >= leafBits) return true;
  const children = childCount(level, leafBits, limits.branchBits);
  const listCost =
    fingerprintBytes * initiatorCount + headerBytes * Math.max(0, responderCount - initiatorCount);
  const descendCost =
    children * nodeHashBytes + (fingerprintBytes * Math.max(initiatorCount, responderCount)) / children;
  return listCost <= descendCost;
}

export function fpKey(fp: readonly [number, number]): string {
  return `${fp[0]}:${fp[1]}`;
}
