// The digest of a replica: a fixed, complete binary tree over token prefixes. Leaf i covers the tokens whose
// top `leafBits` bits equal i; every node holds the XOR of the fingerprints below it and their count.
// XOR is order-independent and its own inverse, so a write updates the digest in O(leafBits) by XORing the
// old fingerprint out and the new one in along one leaf-to-root path — never a rescan.

import { assert } from './errors.js';
import type { Hash64 } from './hash.js';
import { putU32, tokenHi } from './hash.js';

export const leafBitsMin = 4;
export const leafBitsMax = 24;
export const leafBitsDefault = 18;

export interface DigestNode {
  readonly hi: number;
  readonly lo: number;
  readonly count: number;
}

export class DigestTree {
  readonly leafBits: number;
  /** levels[l] holds 2^l nodes; each node is 3 words: xor hi, xor lo, count. */
  private readonly levels: Uint32Array[];

  constructor(leafBits: number = leafBitsDefault) {
    assert(
      Number.isInteger(leafBits) && leafBits >= leafBitsMin && leafBits <= leafBitsMax,
      'leafBits in range',
    );
    this.leafBits = leafBits;
    this.levels = [];
    for (let l = 0; l <= leafBits; l++) this.levels.push(new Uint32Array(3 * 2 ** l));
  }

  /** The leaf a token falls in. */
  leafOf(token: Uint8Array): number {
    return tokenHi(token) >>> (32 - this.leafBits);
  }

  /**
   * Replaces `oldFp` by `newFp` in the leaf of `token` (either may be null: an insert or a removal).
   * Cost: 2 × (leafBits + 1) word XORs.
   */
  update(token: Uint8Array, oldFp: Hash64 | null, newFp: Hash64 | null): void {
    this.updateLeaf(this.leafOf(token), oldFp, newFp);
  }

  updateLeaf(leaf: number, oldFp: Hash64 | null, newFp: Hash64 | null): void {
    let dhi = 0;
    let dlo = 0;
    let dcount = 0;
    if (oldFp !== null) {
      dhi ^= oldFp[0];
      dlo ^= oldFp[1];
      dcount -= 1;
    }
    if (newFp !== null) {
      dhi ^= newFp[0];
      dlo ^= newFp[1];
      dcount += 1;
    }
    this.applyDelta(leaf, dhi, dlo, dcount);
  }

  /** Sets one leaf to a given content (verification's repair of a drifted leaf), keeping parents in step. */
  setLeaf(leaf: number, target: DigestNode): void {
    const current = this.node(this.leafBits, leaf);
    const dhi = (current.hi ^ target.hi) >>> 0;
    const dlo = (current.lo ^ target.lo) >>> 0;
    this.applyDelta(leaf, dhi, dlo, target.count - current.count);
  }

  /** XORs a delta into one leaf and every node above it, adding `dcount` to their counts. */
  private applyDelta(leaf: number, dhi: number, dlo: number, dcount: number): void {
    let index = leaf;
    for (let l = this.leafBits; l >= 0; l--) {
      const words = this.levels[l]!;
      const at = 3 * index;
      words[at] = (words[at]! ^ dhi) >>> 0;
      words[at + 1] = (words[at + 1]! ^ dlo) >>> 0;
      const count = words[at + 2]! + dcount;
      assert(count >= 0 && count < 2 ** 32, 'digest count never negative');
      words[at + 2] = count >>> 0;
      index >>>= 1;
    }
  }

  node(level: number, index: number): DigestNode {
    assert(level >= 0 && level <= this.leafBits, 'level in range');
    assert(index >= 0 && index < 2 ** level, 'index in range');
    const words = this.levels[level]!;
    const at = 3 * index;
    return { hi: words[at]!, lo: words[at + 1]!, count: words[at + 2]! };
  }

  root(): DigestNode {
    return this.node(0, 0);
  }

  /** Root as 16 hex digits; equal roots mean identical replicas (up to 64-bit collisions). */
  rootHex(): string {
    const r = this.root();
    return r.hi.toString(16).padStart(8, '0') + r.lo.toString(16).padStart(8, '0');
  }

  count(): number {
    return this.root().count;
  }

  /** Equal content at one node on both trees. */
  nodeEquals(level: number, index: number, other: DigestNode): boolean {
    const n = this.node(level, index);
    return n.hi === other.hi && n.lo === other.lo && n.count === other.count;
  }

  clear(): void {
    for (const words of this.levels) words.fill(0);
  }
}

/**
 * The token range [start, end) covered by node (level, index), as 8-byte big-endian tokens; `end` is
 * undefined for the last node of a level (the range runs to the end of the keyspace).
 */
export function prefixRange(
  level: number,
  index: number,
): { start: Uint8Array; end: Uint8Array | undefined } {
  assert(level >= 0 && level <= 32, 'prefix level within 32 bits');
  const span = 2 ** (32 - level);
  const startHi = index * span;
  const endHi = startHi + span;
  return { start: tokenFromHi(startHi), end: endHi >= 2 ** 32 ? undefined : tokenFromHi(endHi) };
}

function tokenFromHi(hi: number): Uint8Array {
  const out = new Uint8Array(8);
  putU32(out, 0, hi);
  return out;
}
