// `converge clock ahead`: the records a node holds stamped ahead of its clock (left by a clock that ran
// ahead), and, with --drop, removing that node's copies so anti-entropy brings back its peers' versions.

import type { Command } from 'commander';
import { parseDuration } from '../config/parse.js';
import type { AheadScan } from '../replica/ahead.js';
import { type ClientFlags, clientFor, withClientOptions } from './client.js';
import { print, table } from './output.js';

interface ClockOpts extends ClientFlags {
  node: string;
  minAhead: string;
  limit: string;
  drop?: boolean;
  json?: boolean;
}

export function registerClock(program: Command): void {
  const clock = program.command('clock').description("clocks: records stamped ahead of a node's clock");
  withClientOptions(clock.command('ahead'))
    .description(
      'list the records a node holds stamped ahead of its clock; --drop removes its copies of them',
    )
    .option('--node <url>', 'the node to look at', 'http://127.0.0.1:7101')
    .option('--min-ahead <duration>', "only records stamped more than this ahead of the node's clock", '1s')
    .option('--limit <n>', 'list (or drop) at most this many records', '1000')
    .option(
      '--drop',
      "remove this node's copies (no tombstone: anti-entropy brings back the peers' versions)",
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: ClockOpts) => {
      const minAheadMs = parseDuration('--min-ahead', opts.minAhead);
      const q = `minAheadMs=${minAheadMs}&limit=${encodeURIComponent(opts.limit)}`;
      const client = clientFor(opts);
      // A scan reads every record: it may take long on a large store.
      const long = { timeoutMs: 600_000 };
      const res = opts.drop
        ? await client.requestJson<AheadScan & { dropped: number }>('POST', `/clock/ahead/drop?${q}`, {
            ...long,
            idempotent: true,
          })
        : await client.requestJson<AheadScan>('GET', `/clock/ahead?${q}`, { ...long, idempotent: true });
      const dropped = 'dropped' in res ? (res as { dropped: number }).dropped : undefined;
      const rows = res.records.map((r) => [
        r.key,
        r.version,
        `${(r.aheadMs / 1000).toFixed(1)} s`,
        r.tombstone ? 'tombstone' : 'value',
      ]);
      const summary =
        res.records.length === 0
          ? `no record stamped more than ${minAheadMs} ms ahead of the node's clock (${res.scanned} read)`
          : `${res.records.length}${res.truncated ? '+' : ''} record(s) stamped ahead of the node's clock ` +
            `(${res.scanned} read)` +
            (dropped === undefined ? '' : `; removed ${dropped} from this node`);
      const text =
        rows.length === 0
          ? summary
          : [table([['KEY', 'VERSION', 'AHEAD', 'KIND'], ...rows]), '', summary].join('\n');
      print(opts, res, text);
    });
}
