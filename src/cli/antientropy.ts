// `converge diff`, `converge repair` (with a live progress bar and ETA) and `converge ae pause|resume`.

import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { AntiEntropyStatus, RepairPreviewEntry, SessionHistoryEntry } from '../antientropy/types.js';
import { baseUrl, call, json, withClientOptions } from './client.js';
import { age, print, table } from './output.js';

interface NodeOpts {
  node: string;
  json?: boolean;
}

export function registerAntiEntropyCommands(program: Command): void {
  withClientOptions(program.command('diff'))
    .description('preview what a session with a peer would repair, which way and why (writes nothing)')
    .requiredOption('--peer <id>', 'the peer to compare with')
    .option('--node <url>', 'the node to compare from', 'http://127.0.0.1:7101')
    .option('--limit <n>', 'list at most this many keys', '100')
    .option('--json', 'machine-readable output')
    .action(async (opts: NodeOpts & { peer: string; limit: string }) => {
      const url = `${baseUrl(opts.node)}/antientropy/preview?peer=${encodeURIComponent(opts.peer)}&limit=${encodeURIComponent(opts.limit)}`;
      const res = json<{ peer: string; entries: RepairPreviewEntry[]; truncated: boolean; divergent: number }>(await call('GET', url, undefined, 600_000));
      const text =
        res.divergent === 0
          ? `no differences: ${opts.peer} and this node hold identical records`
          : [
              table([['KEY', 'DIRECTION', 'WHY'], ...res.entries.map((e) => [e.key, e.direction === 'pull' ? `${opts.peer} → here` : `here → ${opts.peer}`, e.reason])]),
              '',
              `${res.divergent} divergent key(s)${res.truncated ? `, first ${res.entries.length} shown` : ''}; nothing was written`,
            ].join('\n');
      print(opts, res, text);
    });

  withClientOptions(program.command('repair'))
    .description('run an anti-entropy session now, with a progress bar')
    .option('--node <url>', 'the node that runs the session', 'http://127.0.0.1:7101')
    .option('--peer <id>', 'only this peer (default: every peer)')
    .option('--json', 'machine-readable output')
    .action(async (opts: NodeOpts & { peer?: string }) => {
      const base = baseUrl(opts.node);
      const url = `${base}/antientropy/run${opts.peer === undefined ? '' : `?peer=${encodeURIComponent(opts.peer)}`}`;
      const bar = opts.json || !process.stderr.isTTY ? undefined : new SingleBar({ format: 'repair {peer} [{bar}] {percentage}% | {repaired} repaired | ETA {eta_formatted}', hideCursor: true, stream: process.stderr });
      bar?.start(100, 0, { peer: opts.peer ?? '', repaired: 0 });
      let finished = false;
      const poll = (async () => {
        while (!finished) {
          await new Promise((r) => setTimeout(r, 200));
          const s = await call('GET', `${base}/antientropy`).then((r) => json<AntiEntropyStatus>(r)).catch(() => undefined);
          const running = s?.peers.find((p) => p.running !== null)?.running;
          if (running) bar?.update(Math.round(running.fraction * 100), { peer: running.peer, repaired: running.keysPulled + running.keysPushed });
        }
      })();
      try {
        const res = json<{ sessions: SessionHistoryEntry[] }>(await call('POST', url, undefined, 3_600_000));
        finished = true;
        await poll;
        bar?.update(100);
        bar?.stop();
        const text = table([
          ['PEER', 'RESULT', 'DIVERGENT', 'PULLED', 'PUSHED', 'ROUND TRIPS', 'BYTES OUT/IN', 'TIME'],
          ...res.sessions.map((s) => [s.peer, s.result + (s.error ? ` (${s.error})` : ''), String(s.keysDivergent), String(s.keysPulled), String(s.keysPushed), String(s.roundTrips), `${s.bytesSent}/${s.bytesReceived}`, age(s.durationMs)]),
        ]);
        print(opts, res, text);
        if (res.sessions.some((s) => s.result === 'failed')) process.exitCode = 1;
      } finally {
        finished = true;
        bar?.stop();
      }
    });

  const ae = program.command('ae').description('pause or resume the anti-entropy process');
  for (const action of ['pause', 'resume'] as const) {
    withClientOptions(ae.command(action))
      .description(`${action} scheduled sessions on a node`)
      .option('--node <url>', 'the node', 'http://127.0.0.1:7101')
      .option('--json', 'machine-readable output')
      .action(async (opts: NodeOpts) => {
        const res = json<{ paused: boolean }>(await call('POST', `${baseUrl(opts.node)}/antientropy/${action}`));
        print(opts, res, res.paused ? 'anti-entropy paused' : 'anti-entropy resumed');
      });
  }
}
