// `converge status [--node URL] [--json]`: every node of the cluster, as seen through the given node's peers.

import type { Command } from 'commander';
import type { NodeStatus } from '../cluster/node-types.js';
import { baseUrl, call, json, withClientOptions } from './client.js';
import { age, print, table } from './output.js';

interface NodeRow {
  readonly id: string;
  readonly url: string;
  readonly reachable: boolean;
  readonly error: string | null;
  readonly status: NodeStatus | null;
}

export async function collectStatus(node: string): Promise<NodeRow[]> {
  const first = json<NodeStatus>(await call('GET', `${baseUrl(node)}/status`, undefined, 5000));
  const rows: NodeRow[] = [{ id: first.id, url: baseUrl(node), reachable: true, error: null, status: first }];
  const others = await Promise.all(
    first.peers.map(async (p): Promise<NodeRow> => {
      try {
        const s = json<NodeStatus>(await call('GET', `${p.url}/status`, undefined, 3000));
        return { id: p.id, url: p.url, reachable: true, error: null, status: s };
      } catch (err) {
        return { id: p.id, url: p.url, reachable: false, error: (err as Error).message, status: null };
      }
    }),
  );
  return [...rows, ...others].sort((a, b) => a.id.localeCompare(b.id));
}

export function aeSummary(s: NodeStatus): string {
  const ae = s.antiEntropy as {
    enabled?: boolean;
    paused?: boolean;
    peers?: Array<{
      peer: string;
      last: { result: string } | null;
      lastSuccessAgeSeconds: number | null;
      running: { fraction: number } | null;
    }>;
  };
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
  return `${ae.paused ? 'paused; ' : ''}${parts.join('; ')}`;
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
    .description('every node: reachable, key count, digest root, anti-entropy state per peer')
    .option('--node <url>', 'any node of the cluster', 'http://127.0.0.1:7101')
    .option('--json', 'machine-readable output')
    .action(async (opts: { node: string; json?: boolean }) => {
      const rows = await collectStatus(opts.node);
      const roots = new Set(rows.filter((r) => r.status !== null).map((r) => r.status!.digest.root));
      const converged = rows.every((r) => r.reachable) && roots.size === 1;
      const text = [
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
        ...rows
          .filter((r) => r.status?.clock?.skewed === true)
          .map((r) => `${r.id}: CLOCK SKEWED, does not coordinate writes: ${r.status!.clock!.reason}`),
        '',
        converged
          ? 'converged: every replica has the same digest root'
          : `DIVERGENT: ${roots.size} different digest roots among reachable replicas`,
      ].join('\n');
      print(opts, { nodes: rows, converged }, text);
    });
}
