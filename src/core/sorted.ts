// Sorted arrays of keys, kept by the in-memory storage engine and the replica's pending overlay: the first
// index not below a key, and the union of two sorted arrays.

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
