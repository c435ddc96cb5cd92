// Decoding the difference of two replicas' coded symbols: subtract (XOR) one prefix from the other, then peel
// — a symbol holding exactly one item (its checksum matches its item) gives that item, which is XORed out of
// every other symbol it maps to, freeing more. Also the estimates of the difference size that choose between
// the symbol path and the tree descent. Pure and synchronous; bounded by the number of symbols given.

import { assert } from './errors.js';
import { forEachIndex, itemCheck } from './riblt.js';

/** An item of the symmetric difference: token hi and fingerprint hi of a record one side holds. */
export type DiffItem = readonly [hi: number, lo: number];

export interface PeelResult {
  /** Every item peeled; complete or not, each one is a true difference (up to checksum collisions). */
  readonly items: DiffItem[];
  /** True when every symbol ended empty: the items are the whole difference. */
  readonly complete: boolean;
}

/** XORs `theirs` into `ours` (triples of item hi, item lo, checksum), over the shorter of the two. */
export function subtractSymbols(ours: Uint32Array, theirs: Uint32Array): Uint32Array {
  const n = Math.min(ours.length, theirs.length);
  assert(n % 3 === 0, 'symbols come in triples');
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = (ours[i]! ^ theirs[i]!) >>> 0;
  return out;
}

function isPure(d: Uint32Array, i: number): boolean {
  const hi = d[3 * i]!;
  const lo = d[3 * i + 1]!;
  const check = d[3 * i + 2]!;
  if (hi === 0 && lo === 0 && check === 0) return false;
  return itemCheck(hi, lo) === check;
}

/** Peels a difference (modified in place). At most one item per symbol can come out. */
export function peel(diff: Uint32Array): PeelResult {
  assert(diff.length % 3 === 0, 'symbols come in triples');
  const size = diff.length / 3;
  const stack: number[] = [];
  for (let i = 0; i < size; i++) if (isPure(diff, i)) stack.push(i);
  const items: DiffItem[] = [];
  while (stack.length > 0 && items.length <= size) {
    const i = stack.pop()!;
    if (!isPure(diff, i)) continue;
    const hi = diff[3 * i]!;
    const lo = diff[3 * i + 1]!;
    const check = diff[3 * i + 2]!;
    items.push([hi, lo]);
    forEachIndex(hi, lo, size, (j) => {
      diff[3 * j] = (diff[3 * j]! ^ hi) >>> 0;
      diff[3 * j + 1] = (diff[3 * j + 1]! ^ lo) >>> 0;
      diff[3 * j + 2] = (diff[3 * j + 2]! ^ check) >>> 0;
      if (isPure(diff, j)) stack.push(j);
    });
  }
  let complete = true;
  for (let i = 0; i < diff.length; i++) {
    if (diff[i] !== 0) {
      complete = false;
      break;
    }
  }
  return { items, complete };
}

const estimateSamplesMax = 256;

/** Probability that an item maps to symbol i. */
const mapProbability = (i: number): number => 1 / (1 + i / 2);

/**
 * Maximum-likelihood size of a difference (before peeling) from which of its symbols are empty: symbol i is
 * empty with probability (1 - p_i)^m. Infinity when no symbol is empty (the prefix is too short to tell).
 */
export function estimateItems(diff: Uint32Array): number {
  const size = diff.length / 3;
  // At most estimateSamplesMax symbols, evenly spread, bound the cost of the search below.
  const stride = Math.max(1, Math.floor(size / estimateSamplesMax));
  const empty: boolean[] = [];
  const at: number[] = [];
  let anyEmpty = false;
  let anyFull = false;
  for (let i = 0; i < size; i += stride) {
    const e = diff[3 * i] === 0 && diff[3 * i + 1] === 0 && diff[3 * i + 2] === 0;
    empty.push(e);
    at.push(i);
    if (e) anyEmpty = true;
    else anyFull = true;
  }
  if (!anyFull) return 0;
  if (!anyEmpty) return Number.POSITIVE_INFINITY;
  let best = 1;
  let bestLog = Number.NEGATIVE_INFINITY;
  let log = 0;
  // log(1 - p_i) once per sample: q = exp(m log(1 - p_i)).
  const logMiss = at.map((i) => Math.log1p(-mapProbability(i)));
  // A grid of ratio 1.02 up to 2^24 items: fine enough for sizing a request.
  for (let m = 1; m < 2 ** 24; m = Math.max(m + 1, Math.floor(m * 1.02))) {
    // The likelihood rises to one peak and falls: stop once past it (or far past, for a flat tail).
    if (log < bestLog - 50 || (m > 4 * best && log < bestLog - 5)) break;
    log = 0;
    for (let j = 0; j < at.length; j++) {
      const x = m * logMiss[j]!;
      log += empty[j] ? x : Math.log(Math.max(1e-300, -Math.expm1(x)));
    }
    if (log > bestLog) {
      bestLog = log;
      best = m;
    }
  }
  return best;
}

/**
 * Differing keys estimated from one-bit parities of `total` digest nodes of which `differing` disagree: a
 * node with changes flips its parity with probability 1/2, and d keys spread over `nodes` nodes leave a node
 * unchanged with probability (1 - 1/nodes)^d. Infinity when (nearly) every bit could be a coin flip.
 */
export function estimateFromParities(differing: number, total: number, nodes: number): number {
  assert(differing >= 0 && differing <= total && total > 0, 'parity counts');
  const changed = (2 * differing) / total;
  if (changed >= 0.97) return Number.POSITIVE_INFINITY;
  // The sampled nodes may be a share of a level: each still sees d / nodes keys on average.
  return -Math.log(1 - changed) * nodes;
}
