// `converge status [--node URL] [--json]`: every node of the cluster, as seen through the given node's peers,
// and one verdict with its exit code (DESIGN.md): 0 converged, 1 divergent, 2 unknown (a replica could not
// be asked, so nothing can be promised about it). The text ends with summary lines, one function each
// (`summaryLines`), so a new line (clock skew, disk, pauses) is one more function.

import type { Command } from 'commander';
import type { OperatorView } from '../antientropy/types.js';
import type { Client, NodeStatus } from '../client/index.js';
import { type ClientFlags, clientFor, withClientOptions } from './client.js';
import { age, failureLine, plural, print, table } from './output.js';
import { partialReplication, ringMismatchLines, ringVerdict } from './status-ring.js';

export interface NodeRow {
  readonly id: string;
  readonly url: string;
  readonly reachable: boolean;
  readonly error: string | null;
  readonly status: NodeStatus | null;
}

export type Verdict = 'converged' | 'divergent' | 'unknown';

export const verdictExitCodes: Readonly<Record<Verdict, number>> = { converged: 0, divergent: 1, unknown: 2 };

export async function collectStatus(client: Client): Promise<NodeRow[]> {
  const first = await client.status();
  const rows: NodeRow[] = [{ id: first.id, url: client.url, reachable: true, error: null, status: first }];
  const others = await Promise.all(
    first.peers.map(async (p): Promise<NodeRow> => {
      try {
        const s = await client.forNode(p.url).status();
        return { id: p.id, url: p.url, reachable: true, error: null, status: s };
      } catch (err) {
        return { id: p.id, url: p.url, reachable: false, error: (err as Error).message, status: null };
      }
    }),
  );
  return [...rows, ...others].sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Different roots among the replicas that answered prove divergence whatever the others hold; equal roots
 * prove convergence only when every replica answered and every digest is ready.
 */
export function verdictOf(rows: readonly NodeRow[]): { verdict: Verdict; reason: string } {
  // Members holding different partitions (RF < N) have different roots by design: compare range by range.
  if (partialReplication(rows)) return ringVerdict(rows);
  const byRoot = new Map<string, string[]>();
  for (const r of rows) {
    if (r.status === null) continue;
    byRoot.set(r.status.digest.root, [...(byRoot.get(r.status.digest.root) ?? []), r.id]);
  }
  const unreachable = rows.filter((r) => !r.reachable).map((r) => r.id);
  const notReady = rows.filter((r) => r.status !== null && !r.status.digest.ready).map((r) => r.id);
  if (byRoot.size > 1) {
    const groups = [...byRoot.values()].map((ids) => ids.join(' ')).join(' | ');
    const also = unreachable.length > 0 ? `; unreachable: ${unreachable.join(', ')}` : '';
    return {
      verdict: 'divergent',
      reason: `DIVERGENT: ${byRoot.size} different digest roots among the reachable replicas (${groups})${also}`,
    };
  }
  const answered = rows.length - unreachable.length;
  if (unreachable.length > 0) {
    const same =
      answered === 0
        ? 'no replica answered'
        : `the ${plural(answered, 'reachable replica')} ${answered === 1 ? 'is' : 'agree'}`;
    return {
      verdict: 'unknown',
      reason: `UNKNOWN: ${unreachable.join(', ')} unreachable, so convergence cannot be told (${same})`,
    };
  }
  if (notReady.length > 0) {
    return {
      verdict: 'unknown',
      reason: `UNKNOWN: the digest of ${notReady.join(', ')} is still being rebuilt`,
    };
  }
  if (rows.length === 1) return { verdict: 'converged', reason: 'converged: the only replica (no peers)' };
  return { verdict: 'converged', reason: `converged: all ${rows.length} replicas have the same digest root` };
}

export function aeSummary(s: NodeStatus): string {
  // Optional: a node too old to report anti-entropy in /status, or still starting.
  const ae: Partial<NodeStatus['antiEntropy']> = s.antiEntropy ?? {};
  if (ae.enabled === false) return 'off';
  if (ae.peers === undefined) return s.mechanisms.antiEntropy ? 'starting' : 'off';
  const parts = ae.peers.map((p) => {
    if (p.running !== null) return `${p.peer}: running ${Math.round(p.running.fraction * 100)}%`;
    if (p.last === null) return `${p.peer}: no session yet`;
    const success = p.lastSuccessAgeSeconds === null ? null : `${age(p.lastSuccessAgeSeconds * 1000)} ago`;
    if (p.last.result === 'converged' || p.last.result === 'repaired')
      return `${p.peer}: ${p.last.result} ${success ?? ''}`.trimEnd();
    // The last session failed: its age is not the last success's, so say each apart.
    return `${p.peer}: ${p.last.result}, ${success === null ? 'never succeeded' : `last success ${success}`}`;
  });
  const by = ae.operator?.paused?.by;
  const since =
    typeof ae.pausedSinceMs === 'number' ? ` since ${new Date(ae.pausedSinceMs).toISOString()}` : '';
  const who = typeof by === 'string' ? ` by ${by}` : '';
  return `${ae.paused ? `paused${who}${since}; ` : ''}${parts.join('; ')}`;
}

/** A pause or throttle left in force past --operator-action-warn-after, one line per node and warning. */
export function operatorWarnings(rows: ReadonlyArray<{ id: string; status: NodeStatus | null }>): string[] {
  return rows.flatMap((r) => {
    const op: OperatorView | undefined = r.status?.antiEntropy?.operator;
    return (op?.warnings ?? []).map((w) => `WARNING: ${r.id}: ${w}`);
  });
}

/** One line per node whose storage refuses writes (a full disk): the condition, since when, and why. */
export function storageLines(rows: readonly NodeRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const s = r.status?.storage;
    if (s === undefined || s === null || s.state !== 'failing') continue;
    const since = s.sinceMs === null ? '' : ` since ${new Date(s.sinceMs).toISOString()}`;
    out.push(`${r.id}: STORAGE FAILING (${s.code})${since}: ${s.message}; writes refused, reads go on`);
  }
  return out.length === 0 ? [] : ['', ...out];
}

/** The lines under the table; each function adds one line or none. */
export const summaryLines: Array<(rows: readonly NodeRow[]) => string | undefined> = [
  (rows) => verdictOf(rows).reason,
];

export function statusText(rows: readonly NodeRow[]): string {
  const lines = summaryLines.map((line) => line(rows)).filter((l): l is string => l !== undefined);
  return [
    table([
      ['NODE', 'REACHABLE', 'KEYS', 'DIGEST ROOT', 'CLOCK', 'ANTI-ENTROPY'],
      ...rows.map((r) => [
        r.id,
        r.reachable ? 'yes' : 'NO',
        r.status ? String(r.status.keys) : '-',
        r.status?.digest.root ?? '-',
        r.status ? clockSummary(r.status) : '-',
        r.status ? aeSummary(r.status) : (r.error ?? ''),
      ]),
    ]),
    ...storageLines(rows),
    ...ringMismatchLines(rows),
    ...rows
      .filter((r) => r.status?.clock?.skewed === true)
      .map((r) => `${r.id}: CLOCK SKEWED, does not coordinate writes: ${r.status!.clock!.reason}`),
    '',
    ...lines,
    ...operatorWarnings(rows),
  ].join('\n');
}

/** The node's clock against its peers': `ok`, or why it does not coordinate writes. */
export function clockSummary(s: NodeStatus): string {
  const clock = s.clock;
  if (clock === undefined) return '-';
  const refused = Object.values(clock.refusedAhead).reduce((n, v) => n + v, 0);
  const tail = refused > 0 ? ` (refused ${refused} record(s) stamped ahead)` : '';
  return (clock.skewed ? 'CLOCK SKEWED' : 'ok') + tail;
}

export function registerStatus(program: Command): void {
  withClientOptions(program.command('status'))
    .description(
      'every node: reachable, key count, digest root, anti-entropy state per peer; exit 0 converged, 1 divergent, 2 unknown',
    )
    .option('--node <url>', 'any node of the cluster', 'http://127.0.0.1:7101')
    .option('--json', 'machine-readable output')
    .action(async (opts: ClientFlags & { json?: boolean }) => {
      let rows: NodeRow[];
      try {
        rows = await collectStatus(clientFor(opts));
      } catch (err) {
        // Not even the given node answered: nothing can be told, which is exit code 2, not 1 (divergent).
        process.stderr.write(failureLine(err));
        process.exitCode = verdictExitCodes.unknown;
        return;
      }
      const { verdict, reason } = verdictOf(rows);
      print(opts, { nodes: rows, verdict, converged: verdict === 'converged', reason }, statusText(rows));
      process.exitCode = verdictExitCodes[verdict];
    });
}
