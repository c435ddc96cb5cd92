// What both sides of the symbol path compute alike: the records behind an item (found by token prefix, never
// by a scan), the parity sketch of a digest level that sizes a difference before any symbol decodes, and the
// split of decoded items into this replica's and the peer's.

import type { DigestTree } from './digest.js';
import { prefixRange } from './digest.js';
import { saltedHash } from './reconcile-shared.js';
import type { ReplicaReader } from './reconcile-types.js';
import type { VersionedRecord } from './record.js';
import type { DiffItem } from './riblt-decode.js';
import { estimateFromParities } from './riblt-decode.js';
import type { Sketch, SymbolRoot, SymbolScope } from './wire-symbols.js';

export interface TokenRecord {
  readonly token: Uint8Array;
  readonly record: VersionedRecord;
}

/**
 * What one side of a symbol-path exchange sums up: the whole keyspace (the replica's own symbols and digest
 * root), or the partitions of a scope (the sum of their symbols, the XOR of their digest nodes).
 */
export interface SymbolSource {
  readonly scope: SymbolScope | undefined;
  /** Symbols available: a prefix of this length. */
  readonly size: number;
  triples(from: number, to: number): Uint32Array;
  root(): SymbolRoot;
  /** Whether an item (by its token's top 32 bits) belongs to the records summed up. */
  covers(hi: number): boolean;
}

/** The source for a scope (or the whole keyspace), or why this replica cannot offer one. */
export function symbolSource(
  reader: Pick<ReplicaReader, 'digest' | 'symbols' | 'partitionSymbols'>,
  scope?: SymbolScope,
): SymbolSource | string {
  if (scope === undefined) {
    const own = reader.symbols;
    if (own === undefined) return 'no coded symbols kept';
    return {
      scope,
      size: own.size,
      triples: (from, to) => own.triples(from, to),
      root: () => rootOf(reader.digest),
      covers: () => true,
    };
  }
  const parts = reader.partitionSymbols;
  if (parts === undefined) return 'no coded symbols kept per partition';
  const bits = scope.partitionBits;
  if (parts.partitionBits !== bits || bits > reader.digest.leafBits) {
    return `symbols kept for ${parts.partitions} partitions, not ${2 ** bits}`;
  }
  const member = new Uint8Array(parts.partitions);
  for (const p of scope.partitions) member[p] = 1;
  return {
    scope,
    size: parts.size,
    triples: (from, to) => parts.triples(scope.partitions, from, to),
    root: () => scopedRoot(reader.digest, scope),
    covers: (hi) => member[parts.partitionOf(hi)] === 1,
  };
}

/** The digest nodes of a scope's partitions merged: XOR of the fingerprints, sum of the counts. */
export function scopedRoot(digest: DigestTree, scope: SymbolScope): SymbolRoot {
  let hi = 0;
  let lo = 0;
  let count = 0;
  for (const p of scope.partitions) {
    const n = digest.node(scope.partitionBits, p);
    hi ^= n.hi;
    lo ^= n.lo;
    count += n.count;
  }
  return { hi: hi >>> 0, lo: lo >>> 0, count };
}

/** Records whose token starts with these 32 bits (almost always one or none). */
export function recordsAt(reader: Pick<ReplicaReader, 'scanTokens'>, tokenHi: number): TokenRecord[] {
  const { start, end } = prefixRange(32, tokenHi);
  return [...reader.scanTokens(start, end)];
}

export function tokenLo(token: Uint8Array): number {
  return ((token[4]! << 24) | (token[5]! << 16) | (token[6]! << 8) | token[7]!) >>> 0;
}

export function rootOf(digest: DigestTree): SymbolRoot {
  const r = digest.root();
  return { hi: r.hi, lo: r.lo, count: r.count };
}

/**
 * The digest nodes a sketch covers at `level`: the level's first nodes, or within a scope its partitions'
 * nodes in order (each partition's 2^(level - partitionBits) nodes, partition by partition).
 */
function sketchNodes(
  level: number,
  scope: SymbolScope | undefined,
): { total: number; at(i: number): number } {
  if (scope === undefined) return { total: 2 ** level, at: (i) => i };
  const per = 2 ** (level - scope.partitionBits);
  return {
    total: scope.partitions.length * per,
    at: (i) => scope.partitions[Math.floor(i / per)]! * per + (i % per),
  };
}

/** The deepest level whose nodes inside the scope fit in `bits` (at least the partitions' own level). */
export function scopedSketchLevel(digest: DigestTree, scope: SymbolScope, bits: number): number {
  let level = scope.partitionBits;
  while (
    level < digest.leafBits &&
    scope.partitions.length * 2 ** (level + 1 - scope.partitionBits) <= bits
  ) {
    level += 1;
  }
  return level;
}

/**
 * One parity bit per node of `level` (within the scope, when given), for its first `bits` nodes, from the
 * session-salted node hash.
 */
export function paritySketch(
  digest: DigestTree,
  level: number,
  bits: number,
  salt: number,
  scope?: SymbolScope,
): Sketch {
  const at = Math.max(Math.min(level, digest.leafBits), scope?.partitionBits ?? 0);
  const nodes = sketchNodes(at, scope);
  const n = Math.min(bits, nodes.total);
  const parities = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) {
    if ((saltedHash(digest.node(at, nodes.at(i)), salt) & 1) === 1) parities[i >> 3]! |= 1 << (i & 7);
  }
  return { level: at, bits: n, parities };
}

/** Differing keys (in the scope, when given) estimated by comparing a peer's parity sketch with this digest's. */
export function estimateFromSketch(
  digest: DigestTree,
  sketch: Sketch,
  salt: number,
  scope?: SymbolScope,
): number {
  if (sketch.bits === 0 || sketch.level > digest.leafBits) return Number.POSITIVE_INFINITY;
  if (scope !== undefined && sketch.level < scope.partitionBits) return Number.POSITIVE_INFINITY;
  const nodes = sketchNodes(sketch.level, scope);
  if (sketch.bits > nodes.total) return Number.POSITIVE_INFINITY;
  const own = paritySketch(digest, sketch.level, sketch.bits, salt, scope).parities;
  let differing = 0;
  for (let i = 0; i < own.length; i++) {
    let x = own[i]! ^ sketch.parities[i]!;
    while (x !== 0) {
      differing += x & 1;
      x >>>= 1;
    }
  }
  return estimateFromParities(differing, sketch.bits, nodes.total);
}

/**
 * Decoded items split by membership: those this replica holds (with their records) and the peer's; `held`
 * names the token prefixes under which this replica holds any record (the peer need not send those keys).
 */
export function splitItems(
  reader: Pick<ReplicaReader, 'scanTokens'>,
  items: readonly DiffItem[],
): { own: Array<{ item: DiffItem; entry: TokenRecord }>; theirs: DiffItem[]; held: Set<number> } {
  const own: Array<{ item: DiffItem; entry: TokenRecord }> = [];
  const theirs: DiffItem[] = [];
  // A changed key is two items under one token prefix: one storage read serves both.
  const read = new Map<number, TokenRecord[]>();
  for (const item of items) {
    let at = read.get(item[0]);
    if (at === undefined) {
      at = recordsAt(reader, item[0]);
      read.set(item[0], at);
    }
    const entry = at.find((e) => e.record.fp[0] === item[1]);
    if (entry === undefined) theirs.push(item);
    else own.push({ item, entry });
  }
  const held = new Set<number>();
  for (const [prefix, records] of read) if (records.length > 0) held.add(prefix);
  return { own, theirs, held };
}

/**
 * Symbols needed to decode `items` differing items, with margin: about 1.37 per item for large differences.
 */
export function symbolsFor(items: number, overshoot: number): number {
  return Math.ceil(items * 1.4 * overshoot) + 24;
}
