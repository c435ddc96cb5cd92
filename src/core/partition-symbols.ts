// Coded symbols kept per ring partition: one prefix of M symbols for each of the P partitions (M from a
// total budget), so a session over a set of shared partitions can send symbols of exactly those records.
// The coded symbols of disjoint sets add up (XOR of the item, fingerprint and checksum words; sum of the
// counts) to the symbols of their union, so the prefix of a scope is the element-wise sum of its partitions'
// prefixes, formed per session like merging digest nodes. Memory: 16 bytes x M x P.
//
// Layout: symbol-major (symbol i of every partition side by side). Every item touches symbol 0 and the low
// indices most often, so those stay in a few cache lines whatever partition a write falls in; a
// partition-major layout spreads them over P separate blocks and measured slower per write than the whole
// keyspace's 1 MiB of symbols.

import { assert } from './errors.js';
import type { Hash64 } from './hash.js';
import { tokenHi } from './hash.js';
import { type CodedSymbols, itemCheck, nextRandom, symbolsMaxLimit, symbolsMaxMin } from './riblt.js';

/** The total of per-partition symbols by default: 4 MiB, 1,024 per partition at the default P = 256. */
export const partitionSymbolsBudgetDefault = 2 ** 18;
/** Largest total accepted (256 MiB). */
export const partitionSymbolsBudgetLimit = 2 ** 24;
/** Fewer than this per partition and none are kept: scoped sessions then take the tree descent. */
export const partitionSymbolsMin = symbolsMaxMin;

/** Words per symbol: item XOR (token hi, fingerprint hi), checksum XOR, count. */
const words = 4;
const noWords = new Int32Array(0);

/** Symbols per partition for a budget, or 0 when none are kept (one partition, or too small a share). */
export function partitionSymbolsSize(partitionBits: number, budget: number): number {
  if (partitionBits === 0 || budget <= 0) return 0;
  const size = Math.min(Math.floor(budget / 2 ** partitionBits), symbolsMaxLimit);
  return size < partitionSymbolsMin ? 0 : size;
}

/**
 * Toggles one item in the whole keyspace's symbols and in its partition's, walking its indices once (the
 * same walk as CodedSymbols.toggle: an item's indices are the same in any set of symbols).
 */
function toggleBoth(
  whole: CodedSymbols | undefined,
  parts: PartitionSymbols | undefined,
  partition: number,
  hi: number,
  lo: number,
  dcount: number,
): void {
  const w = whole?.signed ?? noWords;
  const wholeSize = whole?.size ?? 0;
  const v = parts?.signed ?? noWords;
  const partSize = parts?.size ?? 0;
  const stride = parts?.partitions ?? 0;
  const h = hi | 0;
  const l = lo | 0;
  const check = itemCheck(hi, lo) | 0;
  let state = itemCheck(lo, hi);
  let index = 0;
  const end = Math.max(wholeSize, partSize);
  while (index < end) {
    if (index < wholeSize) {
      const at = words * index;
      w[at] = w[at]! ^ h;
      w[at + 1] = w[at + 1]! ^ l;
      w[at + 2] = w[at + 2]! ^ check;
      w[at + 3] = (w[at + 3]! + dcount) | 0;
    }
    if (index < partSize) {
      const at = words * (index * stride + partition);
      v[at] = v[at]! ^ h;
      v[at + 1] = v[at + 1]! ^ l;
      v[at + 2] = v[at + 2]! ^ check;
      v[at + 3] = (v[at + 3]! + dcount) | 0;
    }
    state = (state + 0x6d2b79f5) | 0;
    const r = nextRandom(state);
    const gap = Math.ceil((index + 1.5) * (65_536 / Math.sqrt(2 ** 32 - r) - 1));
    index += Math.max(gap, 1);
  }
}

/**
 * Replaces a record's old fingerprint by its new one in the whole keyspace's symbols and its partition's,
 * in one walk per item. Either may be absent.
 */
export function updateSymbols(
  whole: CodedSymbols | undefined,
  parts: PartitionSymbols | undefined,
  token: Uint8Array,
  oldFp: Hash64 | null,
  newFp: Hash64 | null,
): void {
  if (oldFp !== null && newFp !== null && oldFp[0] === newFp[0]) return; // the same item: nothing moves
  const hi = tokenHi(token);
  const partition = parts === undefined ? 0 : parts.partitionOf(hi);
  if (oldFp !== null) toggleBoth(whole, parts, partition, hi, oldFp[0], -1);
  if (newFp !== null) toggleBoth(whole, parts, partition, hi, newFp[0], 1);
}

export class PartitionSymbols {
  readonly partitionBits: number;
  /** Symbols kept for each partition. */
  readonly size: number;
  /** Symbol i of partition p at words 4 (i P + p): item hi, item lo, checksum, count. */
  readonly words: Uint32Array;
  /** `words` as signed 32-bit integers (the same memory): updates stay in small integers. */
  readonly signed: Int32Array;

  constructor(partitionBits: number, size: number) {
    assert(Number.isInteger(partitionBits) && partitionBits >= 1 && partitionBits <= 16, 'partition bits');
    assert(Number.isInteger(size) && size >= partitionSymbolsMin && size <= symbolsMaxLimit, 'symbols');
    this.partitionBits = partitionBits;
    this.size = size;
    this.words = new Uint32Array(words * size * 2 ** partitionBits);
    this.signed = new Int32Array(this.words.buffer);
  }

  /** Per-partition symbols for a budget, or undefined when none are kept (see partitionSymbolsSize). */
  static forBudget(partitionBits: number, budget: number): PartitionSymbols | undefined {
    const size = partitionSymbolsSize(partitionBits, budget);
    return size === 0 ? undefined : new PartitionSymbols(partitionBits, size);
  }

  get partitions(): number {
    return 2 ** this.partitionBits;
  }

  /** Bytes held: 16 per symbol. */
  get bytes(): number {
    return this.words.byteLength;
  }

  /** The partition of an item (or token) from its top 32 bits. */
  partitionOf(hi: number): number {
    return hi >>> (32 - this.partitionBits);
  }

  /** Replaces a record's old fingerprint by its new one in its partition's symbols. */
  update(token: Uint8Array, oldFp: Hash64 | null, newFp: Hash64 | null): void {
    updateSymbols(undefined, this, token, oldFp, newFp);
  }

  /** Adds (dcount 1) or removes (dcount -1) one item in a partition. */
  toggle(partition: number, hi: number, lo: number, dcount: number): void {
    assert(partition >= 0 && partition < this.partitions, 'partition in range');
    toggleBoth(undefined, this, partition, hi, lo, dcount);
  }

  /** Symbols [from, to) of the union of `partitions` as wire triples: the XOR of each partition's. */
  triples(partitions: readonly number[], from: number, to: number): Uint32Array {
    assert(from >= 0 && from <= to && to <= this.size, 'symbol range');
    const out = new Uint32Array(3 * (to - from));
    const w = this.words;
    const stride = this.partitions;
    for (let i = from; i < to; i++) {
      const o = 3 * (i - from);
      let hi = 0;
      let lo = 0;
      let check = 0;
      for (const p of partitions) {
        const at = words * (i * stride + p);
        hi ^= w[at]!;
        lo ^= w[at + 1]!;
        check ^= w[at + 2]!;
      }
      out[o] = hi;
      out[o + 1] = lo;
      out[o + 2] = check;
    }
    return out;
  }

  /** Records held in `partitions` (symbol 0 of a partition holds every item of it). */
  count(partitions: readonly number[]): number {
    let n = 0;
    for (const p of partitions) n += this.words[words * p + 3]!;
    return n;
  }

  equals(other: PartitionSymbols): boolean {
    if (other.size !== this.size || other.words.length !== this.words.length) return false;
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== other.words[i]) return false;
    return true;
  }

  copyFrom(other: PartitionSymbols): void {
    assert(other.size === this.size && other.words.length === this.words.length, 'same symbol layout');
    this.words.set(other.words);
  }

  clear(): void {
    this.words.fill(0);
  }
}
