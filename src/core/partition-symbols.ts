// Coded symbols kept per ring partition: one prefix of M symbols for each of the P partitions (M from a
// total budget), so a session over a set of shared partitions can send symbols of exactly those records.
// The coded symbols of disjoint sets add up to the symbols of their union (XOR of the item, fingerprint and
// checksum words; sum of the counts), so the prefix of a scope is the element-wise sum of its partitions'
// prefixes, formed per session like merging digest nodes. Memory: 16 bytes x M x P.

import { assert } from './errors.js';
import type { Hash64 } from './hash.js';
import { tokenHi } from './hash.js';
import { CodedSymbols, symbolsMaxLimit, symbolsMaxMin } from './riblt.js';

/** The total of per-partition symbols by default: 4 MiB, 1,024 per partition at the default P = 256. */
export const partitionSymbolsBudgetDefault = 2 ** 18;
/** Largest total accepted (256 MiB). */
export const partitionSymbolsBudgetLimit = 2 ** 24;
/** Fewer than this per partition and none are kept: scoped sessions then take the tree descent. */
export const partitionSymbolsMin = symbolsMaxMin;

/** Symbols per partition for a budget, or 0 when none are kept (one partition, or too small a share). */
export function partitionSymbolsSize(partitionBits: number, budget: number): number {
  if (partitionBits === 0 || budget <= 0) return 0;
  const size = Math.min(Math.floor(budget / 2 ** partitionBits), symbolsMaxLimit);
  return size < partitionSymbolsMin ? 0 : size;
}

/**
 * Updates the whole-keyspace symbols and the partition's together, walking the item's indices once (the walk,
 * not the memory, is most of an update's cost). Either may be absent.
 */
export function updateSymbols(
  whole: CodedSymbols | undefined,
  parts: PartitionSymbols | undefined,
  token: Uint8Array,
  oldFp: Hash64 | null,
  newFp: Hash64 | null,
): void {
  const part = parts?.ofToken(token);
  if (whole !== undefined) whole.updateAlso(part, token, oldFp, newFp);
  else part?.update(token, oldFp, newFp);
}

export class PartitionSymbols {
  readonly partitionBits: number;
  /** Symbols kept for each partition. */
  readonly size: number;
  private readonly parts: CodedSymbols[];

  constructor(partitionBits: number, size: number) {
    assert(Number.isInteger(partitionBits) && partitionBits >= 1 && partitionBits <= 16, 'partition bits');
    this.partitionBits = partitionBits;
    this.size = size;
    this.parts = Array.from({ length: 2 ** partitionBits }, () => new CodedSymbols(size));
  }

  /** Per-partition symbols for a budget, or undefined when none are kept (see partitionSymbolsSize). */
  static forBudget(partitionBits: number, budget: number): PartitionSymbols | undefined {
    const size = partitionSymbolsSize(partitionBits, budget);
    return size === 0 ? undefined : new PartitionSymbols(partitionBits, size);
  }

  get partitions(): number {
    return this.parts.length;
  }

  /** Bytes held: 16 per symbol. */
  get bytes(): number {
    return 16 * this.size * this.parts.length;
  }

  /** The partition of an item (or token) from its top 32 bits. */
  partitionOf(hi: number): number {
    return hi >>> (32 - this.partitionBits);
  }

  of(partition: number): CodedSymbols {
    const part = this.parts[partition];
    assert(part !== undefined, 'partition in range');
    return part;
  }

  /** Replaces a record's old fingerprint by its new one in its partition's symbols. */
  update(token: Uint8Array, oldFp: Hash64 | null, newFp: Hash64 | null): void {
    this.parts[this.partitionOf(tokenHi(token))]!.update(token, oldFp, newFp);
  }

  /** Its partition's symbols of a token (to update beside the whole keyspace's, `updateSymbols`). */
  ofToken(token: Uint8Array): CodedSymbols {
    return this.parts[this.partitionOf(tokenHi(token))]!;
  }

  /** Symbols [from, to) of the union of `partitions` as wire triples: the XOR of each partition's. */
  triples(partitions: readonly number[], from: number, to: number): Uint32Array {
    assert(from >= 0 && from <= to && to <= this.size, 'symbol range');
    const out = new Uint32Array(3 * (to - from));
    for (const p of partitions) {
      const w = this.of(p).words;
      for (let i = from; i < to; i++) {
        const at = 4 * i;
        const o = 3 * (i - from);
        out[o] = out[o]! ^ w[at]!;
        out[o + 1] = out[o + 1]! ^ w[at + 1]!;
        out[o + 2] = out[o + 2]! ^ w[at + 2]!;
      }
    }
    return out;
  }

  /** Records held in `partitions` (symbol 0 of a partition holds every item of it). */
  count(partitions: readonly number[]): number {
    let n = 0;
    for (const p of partitions) n += this.of(p).count();
    return n;
  }

  equals(other: PartitionSymbols): boolean {
    if (other.size !== this.size || other.parts.length !== this.parts.length) return false;
    return this.parts.every((part, p) => part.equals(other.parts[p]!));
  }

  copyFrom(other: PartitionSymbols): void {
    assert(other.size === this.size && other.parts.length === this.parts.length, 'same symbol layout');
    for (const [p, part] of this.parts.entries()) part.copyFrom(other.parts[p]!);
  }

  clear(): void {
    for (const part of this.parts) part.clear();
  }
}
