// Rateless coded symbols over a replica's records (after Yang, Gilad and Alizadeh's rateless IBLT): each
// record is an item (the top 32 bits of its token, the top 32 bits of its fingerprint) mapped to symbol 0 and
// then to ever sparser indices (index i with probability 1/(1 + i/2)). Symbol i holds the XOR of its items,
// the XOR of their checksums and their count; XOR is its own inverse, so a write moves one item out and one
// in, touching about 2 ln(M/2) + 1 of the first M symbols — never a rescan. Memory: 16 bytes per symbol.

import { assert } from './errors.js';
import type { Hash64 } from './hash.js';
import { tokenHi } from './hash.js';

/** Symbols kept per range by default: decodes up to about 24,000 differing items (12,000 changed keys). */
export const symbolsMaxDefault = 65_536;
export const symbolsMaxMin = 64;
export const symbolsMaxLimit = 2 ** 22;

/** Words per symbol: item XOR (token hi, fingerprint hi), checksum XOR, count. */
const words = 4;

/** A 32-bit avalanche of an item: its checksum, and the seed of its index sequence. */
export function itemCheck(hi: number, lo: number): number {
  let h = Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(lo ^ 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** One step of a 32-bit counter-based generator (splitmix-style): the output for a state. */
export function nextRandom(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/**
 * Walks the indices an item maps to, below `limit`, calling `visit` on each. The gap after index i is
 * ceil((i + 1.5)((1 - u)^(-1/2) - 1)) for a uniform u drawn from the item's own generator, which makes index
 * i present with probability 1/(1 + i/2), whatever came before.
 */
export function forEachIndex(hi: number, lo: number, limit: number, visit: (index: number) => void): void {
  let state = itemCheck(lo, hi);
  let index = 0;
  while (index < limit) {
    visit(index);
    state = (state + 0x6d2b79f5) | 0;
    const r = nextRandom(state);
    const gap = Math.ceil((index + 1.5) * (65_536 / Math.sqrt(2 ** 32 - r) - 1));
    index += Math.max(gap, 1);
  }
}

/** The item of a record: its token's top 32 bits and its fingerprint's top 32 bits. */
export function itemOf(token: Uint8Array, fp: Hash64): readonly [number, number] {
  return [tokenHi(token), fp[0]];
}

export interface CodedSymbol {
  readonly hi: number;
  readonly lo: number;
  readonly check: number;
  readonly count: number;
}

/** The first `size` coded symbols of a set of items, kept up to date item by item. */
export class CodedSymbols {
  readonly size: number;
  /** Symbol i at 4i: XOR of token hi, XOR of fingerprint hi, XOR of checksums, count (mod 2^32). */
  readonly words: Uint32Array;
  /** `words` seen as signed 32-bit integers (the same memory); partition-symbols.ts updates through it too. */
  readonly signed: Int32Array;

  constructor(size: number = symbolsMaxDefault) {
    assert(Number.isInteger(size) && size >= symbolsMaxMin && size <= symbolsMaxLimit, 'symbols in range');
    this.size = size;
    this.words = new Uint32Array(words * size);
    this.signed = new Int32Array(this.words.buffer);
  }

  /** Replaces a record's old fingerprint by its new one (either may be null: an insert or a removal). */
  update(token: Uint8Array, oldFp: Hash64 | null, newFp: Hash64 | null): void {
    const hi = tokenHi(token);
    if (oldFp !== null && newFp !== null && oldFp[0] === newFp[0]) return; // the same item: nothing moves
    if (oldFp !== null) this.toggle(hi, oldFp[0], -1);
    if (newFp !== null) this.toggle(hi, newFp[0], 1);
  }

  /** Adds (dcount 1) or removes (dcount -1) one item. */
  toggle(hi: number, lo: number, dcount: number): void {
    // The same memory as signed words: XOR and add stay in 32-bit integers, never heap numbers (a Uint32Array
    // hands out values of 2^31 and up as doubles), which halves the cost of a write's update.
    const w = this.signed;
    const h = hi | 0;
    const l = lo | 0;
    const check = itemCheck(hi, lo) | 0;
    let state = itemCheck(lo, hi);
    let index = 0;
    const size = this.size;
    // forEachIndex inlined: this runs on every write.
    while (index < size) {
      const at = words * index;
      w[at] = w[at]! ^ h;
      w[at + 1] = w[at + 1]! ^ l;
      w[at + 2] = w[at + 2]! ^ check;
      w[at + 3] = (w[at + 3]! + dcount) | 0;
      state = (state + 0x6d2b79f5) | 0;
      const r = nextRandom(state);
      const gap = Math.ceil((index + 1.5) * (65_536 / Math.sqrt(2 ** 32 - r) - 1));
      index += Math.max(gap, 1);
    }
  }

  symbol(index: number): CodedSymbol {
    assert(Number.isInteger(index) && index >= 0 && index < this.size, 'symbol index in range');
    const at = words * index;
    const w = this.words;
    return { hi: w[at]!, lo: w[at + 1]!, check: w[at + 2]!, count: w[at + 3]! };
  }

  /** Symbol 0 holds every item: its count is the number of records. */
  count(): number {
    return this.words[3]!;
  }

  equals(other: CodedSymbols): boolean {
    if (other.size !== this.size) return false;
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== other.words[i]) return false;
    return true;
  }

  clone(): CodedSymbols {
    const copy = new CodedSymbols(this.size);
    copy.words.set(this.words);
    return copy;
  }

  copyFrom(other: CodedSymbols): void {
    assert(other.size === this.size, 'same symbol count');
    this.words.set(other.words);
  }

  clear(): void {
    this.words.fill(0);
  }

  /**
   * Symbols [from, to) as (item hi, item lo, checksum) triples: what travels on the wire (the count does not:
   * the checksum tells a pure symbol, and membership tells whose item it is).
   */
  triples(from: number, to: number): Uint32Array {
    assert(from >= 0 && from <= to && to <= this.size, 'symbol range');
    const out = new Uint32Array(3 * (to - from));
    for (let i = from; i < to; i++) {
      out[3 * (i - from)] = this.words[words * i]!;
      out[3 * (i - from) + 1] = this.words[words * i + 1]!;
      out[3 * (i - from) + 2] = this.words[words * i + 2]!;
    }
    return out;
  }
}
