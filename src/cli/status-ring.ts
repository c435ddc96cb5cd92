// The cluster's verdict when members hold different partitions (RF < N): digest roots are not comparable
// then, so convergence is told range by range. Each node reports, per peer, whether the digests of the
// partitions both hold are equal (compared on its last ping); every range's reachable replicas are equal
// exactly when every reachable pair that shares a range says so.

import type { NodeStatus } from '../client/index.js';

interface RowLike {
  readonly id: string;
  readonly reachable: boolean;
  readonly status: NodeStatus | null;
}

export type RingVerdict = { verdict: 'converged' | 'divergent' | 'unknown'; reason: string };

/** True when some reachable node holds only part of the partitions: roots then differ by design. */
export function partialReplication(rows: readonly RowLike[]): boolean {
  return rows.some((r) => {
    const ring = r.status?.ring;
    if (ring === undefined) return false;
    const held = ring.owned.reduce((n, [first, last]) => n + last - first + 1, 0);
    return held < ring.partitions;
  });
}

/** The ring mismatches the reachable nodes report of their peers, one line each. */
export function ringMismatchLines(rows: readonly RowLike[]): string[] {
  return rows.flatMap((r) =>
    (r.status?.peers ?? [])
      .filter((p) => p.ring?.mismatch !== undefined)
      .map((p) => `${r.id}: RING MISMATCH with ${p.id}: ${p.ring!.mismatch}`),
  );
}

/** Pairs of reachable nodes sharing partitions, with what each side said about them. */
function pairs(rows: readonly RowLike[]): Array<{ a: string; b: string; equal: boolean | null }> {
  const up = new Map(rows.filter((r) => r.status !== null).map((r) => [r.id, r.status!]));
  const out: Array<{ a: string; b: string; equal: boolean | null }> = [];
  for (const [a, s] of up) {
    for (const p of s.peers) {
      if (!up.has(p.id) || a > p.id || p.ring === undefined || p.ring.shared === 0) continue;
      const back = up.get(p.id)!.peers.find((q) => q.id === a)?.ring;
      const says = [p.ring.equal, back?.equal ?? null];
      const equal = says.includes(false) ? false : says.includes(true) ? true : null;
      out.push({ a, b: p.id, equal });
    }
  }
  return out;
}

export function ringVerdict(rows: readonly RowLike[]): RingVerdict {
  const mismatches = ringMismatchLines(rows);
  const unreachable = rows.filter((r) => !r.reachable).map((r) => r.id);
  const also = unreachable.length > 0 ? `; unreachable: ${unreachable.join(', ')}` : '';
  const all = pairs(rows);
  const differ = all.filter((p) => p.equal === false).map((p) => `${p.a}-${p.b}`);
  if (differ.length > 0) {
    return {
      verdict: 'divergent',
      reason: `DIVERGENT: the ranges shared by ${differ.join(', ')} differ${also}`,
    };
  }
  if (mismatches.length > 0) {
    return { verdict: 'unknown', reason: 'UNKNOWN: members run different rings (see the lines above)' };
  }
  if (unreachable.length > 0) {
    return {
      verdict: 'unknown',
      reason:
        `UNKNOWN: ${unreachable.join(', ')} unreachable, so convergence cannot be told ` +
        "(every range's reachable replicas agree)",
    };
  }
  const notReady = rows.filter((r) => r.status !== null && !r.status.digest.ready).map((r) => r.id);
  if (notReady.length > 0)
    return {
      verdict: 'unknown',
      reason: `UNKNOWN: the digest of ${notReady.join(', ')} is still being rebuilt`,
    };
  const untold = all.filter((p) => p.equal === null).map((p) => `${p.a}-${p.b}`);
  if (untold.length > 0) {
    return {
      verdict: 'unknown',
      reason: `UNKNOWN: the shared ranges of ${untold.join(', ')} have not been compared yet (no ping answered)`,
    };
  }
  const ring = rows.find((r) => r.status?.ring !== undefined)?.status?.ring;
  const shape =
    ring === undefined ? '' : ` (${rows.length} members, RF ${ring.replicationFactor}, P ${ring.partitions})`;
  return { verdict: 'converged', reason: `converged: every range's replicas hold the same records${shape}` };
}
