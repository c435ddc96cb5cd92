// `converge diff`, `converge repair` (with a live progress bar) and `converge ae pause|resume [--all]`.

import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { SessionProgress } from '../antientropy/types.js';
import type { Client, RepairPreview, SessionHistoryEntry } from '../client/index.js';
import { type ClientFlags, clientFor, longTimeoutMs, withClientOptions } from './client.js';
import { age, plural, print, table } from './output.js';

interface NodeOpts extends ClientFlags {
  node: string;
  json?: boolean;
}

/** How long `converge repair` waits for its sessions before giving up (they go on in the node). */
const repairTimeoutMs = 3_600_000;
/** A preview walks the whole digest: on a large store it takes long. */
const previewTimeoutMs = 600_000;
const repairPollIntervalMs = 200;

export function registerAntiEntropyCommands(program: Command): void {
  registerDiff(program);
  registerRepair(program);
  registerPause(program);
}

function registerDiff(program: Command): void {
  withClientOptions(program.command('diff'))
    .description('preview what a session with a peer would repair, which way and why (writes nothing)')
    .requiredOption('--peer <id>', 'the peer to compare with')
    .option('--node <url>', 'the node to compare from', 'http://127.0.0.1:7101')
    .option('--limit <n>', 'list at most this many keys', '100')
    .option('--json', 'machine-readable output')
    .action(async (opts: NodeOpts & { peer: string; limit: string }) => {
      const res = await clientFor(opts).previewRepair(opts.peer, Number(opts.limit), {
        timeoutMs: longTimeoutMs(opts, previewTimeoutMs),
      });
      const text = [...previewLines(opts.peer, res), previewScope(res)].join('\n');
      print(opts, res, text);
    });
}

/** The keys a preview found, which way each would go and why. */
function previewLines(peer: string, res: RepairPreview): string[] {
  if (res.divergent === 0) return [`no differences: ${peer} and this node hold identical records`];
  const rows = res.entries.map((e) => [
    e.key,
    e.direction === 'pull' ? `${peer} → here` : `here → ${peer}`,
    e.reason,
  ]);
  const shown = res.truncated ? `, first ${res.entries.length} shown` : '';
  return [
    table([['KEY', 'DIRECTION', 'WHY'], ...rows]),
    '',
    `${plural(res.divergent, 'divergent key')}${shown}; nothing was written`,
  ];
}

/** Which partitions the preview compared (a session compares the same), and how it found the difference. */
function previewScope(res: RepairPreview): string {
  const over =
    res.range === 'all' ? 'every partition' : `${plural(res.partitions, 'shared partition')} (${res.range})`;
  const how = {
    symbols: 'coded symbols',
    'symbols-then-tree': 'coded symbols, then the tree',
    tree: 'the tree',
  };
  return `compared over ${over}, found by ${how[res.discovery]}`;
}

export interface BarState {
  readonly value: number;
  readonly total: number;
  readonly payload: { peer: string; pct: number; repaired: number; divergent: number; eta: string };
}

/**
 * The bar counts keys: repaired (pulled + pushed) out of those found divergent so far, so its percentage is
 * the count's. While discovery still runs the total can grow; the ETA is the node's own estimate.
 */
export function barState(
  peer: string,
  counts: { divergent: number; repaired: number },
  etaMs: number | null,
): BarState {
  const total = Math.max(counts.divergent, counts.repaired);
  const pct = total === 0 ? 0 : Math.floor((100 * counts.repaired) / total);
  const eta = etaMs === null ? '' : ` | ETA ${age(etaMs)}`;
  // cli-progress needs a positive total to draw an empty bar.
  return {
    value: counts.repaired,
    total: Math.max(total, 1),
    payload: { peer, pct, repaired: counts.repaired, divergent: total, eta },
  };
}

export function progressState(p: SessionProgress): BarState {
  return barState(p.peer, { divergent: p.keysDivergent, repaired: p.keysPulled + p.keysPushed }, p.etaMs);
}

/** The bar's last state: the sessions' own totals, which the result table prints too. */
export function finalState(peer: string, sessions: readonly SessionHistoryEntry[]): BarState {
  const sum = (f: (s: SessionHistoryEntry) => number): number => sessions.reduce((n, s) => n + f(s), 0);
  return barState(
    peer,
    { divergent: sum((s) => s.keysDivergent), repaired: sum((s) => s.keysPulled + s.keysPushed) },
    null,
  );
}

function registerRepair(program: Command): void {
  withClientOptions(program.command('repair'))
    .description('run an anti-entropy session now, with a progress bar')
    .option('--node <url>', 'the node that runs the session', 'http://127.0.0.1:7101')
    .option('--peer <id>', 'only this peer (default: every peer)')
    .option('--json', 'machine-readable output')
    .action(async (opts: NodeOpts & { peer?: string }) => {
      const client = clientFor(opts);
      const bar = opts.json || !process.stderr.isTTY ? undefined : newBar();
      const show = (s: BarState): void => {
        bar?.setTotal(s.total);
        bar?.update(s.value, s.payload);
      };
      bar?.start(1, 0, barState(opts.peer ?? '', { divergent: 0, repaired: 0 }, null).payload);
      const poller = bar === undefined ? undefined : pollProgress(client, show);
      try {
        const res = await client.runAntiEntropy(opts.peer, {
          timeoutMs: longTimeoutMs(opts, repairTimeoutMs),
        });
        poller?.stop();
        await poller?.done;
        show(finalState(opts.peer ?? res.sessions.map((s) => s.peer).join(','), res.sessions));
        bar?.stop();
        const text = table([
          ['PEER', 'RESULT', 'DIVERGENT', 'PULLED', 'PUSHED', 'ROUND TRIPS', 'BYTES OUT/IN', 'TIME'],
          ...res.sessions.map((s) => [
            s.peer,
            s.result + (s.error ? ` (${s.error})` : ''),
            String(s.keysDivergent),
            String(s.keysPulled),
            String(s.keysPushed),
            String(s.roundTrips),
            `${s.bytesSent}/${s.bytesReceived}`,
            age(s.durationMs),
          ]),
        ]);
        print(opts, res, text);
        if (res.sessions.some((s) => s.result === 'failed')) process.exitCode = 1;
      } finally {
        poller?.stop();
        bar?.stop();
      }
    });
}

function newBar(): SingleBar {
  return new SingleBar({
    format: 'repair {peer} [{bar}] {pct}% | {repaired}/{divergent} keys repaired{eta}',
    hideCursor: true,
    stream: process.stderr,
  });
}

/** Polls the node's running session for the bar; a failed poll only skips one update. */
function pollProgress(
  client: Client,
  show: (s: BarState) => void,
): { stop: () => void; done: Promise<void> } {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, repairPollIntervalMs));
      if (stopped) return;
      try {
        const s = await client.antiEntropyStatus({ timeoutMs: 2000 });
        const running = s.peers.find((p) => p.running !== null)?.running;
        if (running && !stopped) show(progressState(running));
      } catch {
        // The bar is a courtesy: the session's result comes from the run request itself.
      }
    }
  })();
  return { stop: () => (stopped = true), done };
}

function registerPause(program: Command): void {
  const ae = program
    .command('ae')
    .description('pause or resume anti-entropy on one node (--all: on every node of the cluster)');
  const what = {
    pause:
      'stop starting scheduled sessions on a node (a running one finishes). Its peers still start sessions with it and repair it: use --all to pause the whole cluster',
    resume: 'start scheduled sessions again on a node (--all: on every node)',
  };
  for (const action of ['pause', 'resume'] as const) {
    withClientOptions(ae.command(action))
      .description(what[action])
      .option(
        '--node <url>',
        'the node (with --all: any node, whose peers are the rest of the cluster)',
        'http://127.0.0.1:7101',
      )
      .option('--all', 'every node of the cluster: the given node and its peers')
      .option('--json', 'machine-readable output')
      .action(async (opts: NodeOpts & { all?: boolean }) => {
        const client = clientFor(opts);
        const call = (c: Client): Promise<{ paused: boolean }> =>
          action === 'pause' ? c.pauseAntiEntropy() : c.resumeAntiEntropy();
        if (!opts.all) {
          const res = await call(client);
          print(
            opts,
            res,
            res.paused
              ? 'anti-entropy paused on this node (its peers may still repair it)'
              : 'anti-entropy resumed',
          );
          return;
        }
        await pauseAll(client, call, action, opts);
      });
  }
}

async function pauseAll(
  client: Client,
  call: (c: Client) => Promise<{ paused: boolean }>,
  action: 'pause' | 'resume',
  opts: { json?: boolean },
): Promise<void> {
  const status = await client.status();
  const targets = [
    { id: status.id, client },
    ...status.peers.map((p) => ({ id: p.id, client: client.forNode(p.url) })),
  ];
  const nodes = await Promise.all(
    targets.map(async (t) => {
      try {
        return { id: t.id, paused: (await call(t.client)).paused, error: null };
      } catch (err) {
        return { id: t.id, paused: null, error: (err as Error).message };
      }
    }),
  );
  nodes.sort((a, b) => a.id.localeCompare(b.id));
  const failed = nodes.filter((n) => n.error !== null);
  const done = action === 'pause' ? 'paused' : 'resumed';
  const lines = nodes.map((n) => `${n.id}: ${n.error === null ? done : `FAILED: ${n.error}`}`);
  if (failed.length > 0)
    lines.push(`not ${done} on ${plural(failed.length, 'node')}: ${failed.map((n) => n.id).join(', ')}`);
  print(opts, { nodes }, lines.join('\n'));
  if (failed.length > 0) process.exitCode = 1;
}
