// Sorted arrays of keys, kept by the in-memory storage engine and the replica's pending overlay: the first
// index not below a key, and the union of two sorted arrays; and the byte order of tokens and keys.

/** Unsigned byte order, shorter first on a common prefix (what `Buffer.compare` does, without Node). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** The first index whose key is not below `key` (the length when every key is). */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The sorted union of two sorted arrays, each key once (duplicates within either array collapse too). */
export function mergeSortedUnique(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const key = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1] !== key) out.push(key);
  }
  return out;
}
