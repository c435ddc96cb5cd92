// The part every story shares: what each replica lacks, anti-entropy healing it, and an account of the
// healing that adds up — the sessions that ran, the records each replica applied from anti-entropy, and
// whether those are exactly the copies it lacked.

import { fpEquals, keyToBytes, merge, type VersionedRecord } from '../../core/record.js';
import type { LocalCluster } from '../cluster.js';
import {
  appliedBy,
  converged,
  describeSession,
  healMs,
  holdAntiEntropy,
  sessionsIdle,
  sessionsSince,
  showRoots,
  until,
} from './evidence.js';
import { type Narrator, plural } from './narrate.js';

const sessionLinesMax = 6;

/** Per running replica, how many of `keys` it lacks or holds an older version of than the newest anywhere. */
export function lacking(cluster: LocalCluster, keys: readonly string[]): Map<string, number> {
  const replicas = [...cluster.running].map(([id, r]) => ({ id, replica: r.ctx.replica }));
  const out = new Map<string, number>(replicas.map((r) => [r.id, 0]));
  for (const key of keys) {
    const k = keyToBytes(key);
    const held = replicas.map((r) => ({ id: r.id, rec: r.replica.get(k) }));
    let winner: VersionedRecord | undefined;
    for (const { rec } of held)
      if (rec !== undefined) winner = winner === undefined ? rec : merge(winner, rec);
    if (winner === undefined) continue;
    for (const { id, rec } of held) {
      if (rec === undefined || !fpEquals(rec.fp, winner.fp)) out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

export function listPerReplica(n: Narrator, name: string, values: ReadonlyMap<string, number>): string {
  return [...values].map(([id, v]) => `${id} ${n.figure(`${name}.${id}`, v)}`).join(', ');
}

export interface HealAccount {
  /** The replicas converged (identical digests) within healMs. */
  readonly converged: boolean;
  /** Every replica applied from anti-entropy exactly as many records as it lacked, no more. */
  readonly exact: boolean;
  readonly sessions: number;
}

/**
 * Measures what each replica lacks of `keys`, calls `release` (heal the network, switch anti-entropy on),
 * lets anti-entropy converge the replicas and narrates what it did; `label` names the figures.
 */
export async function healAndAccount(
  n: Narrator,
  cluster: LocalCluster,
  keys: readonly string[],
  label: string,
  release: () => Promise<void>,
): Promise<HealAccount> {
  // Sessions may be repairing already (between replicas that were never cut off): hold the schedule and let
  // them end, so that every record anti-entropy applies from here on belongs to a session listed below.
  const nodes = [...cluster.running.values()];
  await holdAntiEntropy(cluster);
  const missing = lacking(cluster, keys);
  const before = appliedBy(cluster);
  const sinceMs = Date.now();
  await release();
  await Promise.all(
    nodes.filter((r) => r.ctx.node.ctx.mechanisms.antiEntropy).map((r) => r.ctx.antiEntropy?.resume()),
  );
  await n.next(
    'Anti-entropy runs by itself: each node compares its digest with each peer’s in a session and repairs exactly the keys that differ.',
  );
  const ok = await until(() => converged(cluster) && sessionsIdle(cluster), healMs);
  const sessions = sessionsSince(cluster, sinceMs);
  for (const h of sessions.slice(0, sessionLinesMax)) n.detail(describeSession(h));
  if (sessions.length > sessionLinesMax)
    n.detail(`… and ${plural(sessions.length - sessionLinesMax, 'more session')}`);
  const repaired = sessions.filter((h) => h.result === 'repaired');
  const found = repaired.reduce((s, h) => s + h.keysDivergent, 0);
  const moved = repaired.reduce((s, h) => s + h.keysPulled + h.keysPushed, 0);
  n.detail(
    `${n.figure(`${label}.sessions`, repaired.length)} ${repaired.length === 1 ? 'session' : 'sessions'} repaired something: ` +
      `${n.figure(`${label}.found`, found)} divergent keys found and ${n.figure(`${label}.moved`, moved)} records sent, ` +
      'counted per session (a key two replicas lacked counts in two sessions).',
  );
  const after = appliedBy(cluster);
  const delta = (pick: (a: { replication: number; antiEntropy: number }) => number) =>
    new Map(
      [...after].map(([id, a]) => [id, pick(a) - pick(before.get(id) ?? { replication: 0, antiEntropy: 0 })]),
    );
  const applied = delta((a) => a.antiEntropy);
  // A send still on its way (or one the coordinator timed out but the replica took) lands meanwhile: counted.
  const late = delta((a) => a.replication);
  const exact = [...missing].every(([id, m]) => (applied.get(id) ?? 0) + (late.get(id) ?? 0) === m);
  const appliedSum = [...applied.values()].reduce((a, b) => a + b, 0);
  n.detail(
    `records anti-entropy applied where they landed: ${listPerReplica(n, `${label}.applied`, applied)}`,
  );
  if ([...late.values()].some((v) => v > 0)) {
    n.detail(
      `records that arrived by replication meanwhile (sends still on their way): ${listPerReplica(n, `${label}.late`, late)}`,
    );
  }
  if (moved > appliedSum) {
    n.detail(`(${moved - appliedSum} of the records sent were already there when they arrived)`);
  }
  n.detail(
    `copies each replica lacked when the repair began: ${listPerReplica(n, `${label}.lacked`, missing)}` +
      (exact ? ' — exactly those, no more' : ' — these differ from what arrived'),
  );
  showRoots(n, cluster, `${label}.after`);
  return { converged: ok, exact, sessions: repaired.length };
}
