// `converge cluster members|decommission|replace|cancel`: the members with the change in progress, and the
// operator's changes, begun at --node (which then drives them). docs/cli.md and docs/operations.md.

import type { Command } from 'commander';
import type { MembersView } from '../cluster/membership-api.js';
import type { MembershipStatus } from '../core/membership-status.js';
import { type ClientFlags, clientFor, withClientOptions } from './client.js';
import { print, table } from './output.js';

interface MembersOpts extends ClientFlags {
  node: string;
  json?: boolean;
}

const nodeDefault = 'http://127.0.0.1:7101';

/** The members as a table, then the change in progress (or none) in one line. */
export function membersText(v: MembersView): string {
  const rows = v.members.map((m) => [
    m.id,
    m.state,
    String(m.owned),
    String(m.ownedAfter),
    v.addresses[m.id] ?? '?',
    String(v.installedEpochs[m.id] ?? '?'),
    v.down.includes(m.id) ? 'down' : '',
  ]);
  const head = ['ID', 'STATE', 'OWNS', 'AFTER', 'URL', 'EPOCH', ''];
  const lines = [
    `membership epoch ${v.epoch}, ${v.partitions} partitions, RF ${v.replicationFactor}`,
    table([head, ...rows]),
    '',
    changeLine(v),
  ];
  for (const s of v.stalled) lines.push(`  stalled: partition ${s.partition}: ${s.reason}`);
  return lines.join('\n');
}

function changeLine(v: MembershipStatus & { driver?: string | null; streaming?: boolean }): string {
  const c = v.change;
  if (c === null) return 'no change in progress';
  const what = c.kind === 'replace' ? `replace of ${c.replaced} by ${c.member}` : `${c.kind} of ${c.member}`;
  const p = c.partitions;
  const eta = c.etaMs === null ? 'ETA unknown' : `ETA ${Math.ceil(c.etaMs / 1000)} s`;
  const driver = v.driver === undefined ? '' : `, driven by ${v.driver ?? '?'}`;
  const streaming = v.streaming === false ? ' (no driver loop on this build: nothing streams)' : '';
  return (
    `change: ${what} since epoch ${c.sinceEpoch}${driver}: ${p.total} partitions moving ` +
    `(${p.pending} pending, ${p.streamed} streamed, ${p.moved} moved, ${p.cleaned} cleaned), ` +
    `${eta}${streaming}`
  );
}

function printChange(opts: MembersOpts, res: MembershipStatus, done: string): void {
  print(opts, res, `${done}\n${changeLine(res)}`);
}

export function registerMembership(program: Command): void {
  const cluster = program.command('cluster').description('the members of the ring and changes to them');
  withClientOptions(cluster.command('members'))
    .description('list the members, their state and share, and the change in progress')
    .option('--node <url>', 'the node to ask', nodeDefault)
    .option('--json', 'machine-readable output')
    .action(async (opts: MembersOpts) => {
      const v = await clientFor(opts).requestJson<MembersView>('GET', '/cluster/members', {
        idempotent: true,
      });
      print(opts, v, membersText(v));
    });
  withClientOptions(cluster.command('decommission <id>'))
    .description('remove a member: its ranges go to the others (the node asked drives the change)')
    .option('--node <url>', 'the node that begins and drives the change', nodeDefault)
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: MembersOpts) => {
      const q = `id=${encodeURIComponent(id)}`;
      const res = await clientFor(opts).requestJson<MembershipStatus>('POST', `/cluster/decommission?${q}`, {
        idempotent: false,
      });
      printChange(opts, res, `decommission of ${id} begun`);
    });
  withClientOptions(cluster.command('replace <dead>'))
    .description("give a dead member's ranges to a new node (streamed from the surviving replicas)")
    .requiredOption('--with <id>', 'the new node')
    .requiredOption('--url <url>', 'the base URL the new node listens at')
    .option('--node <url>', 'the node that begins and drives the change', nodeDefault)
    .option('--json', 'machine-readable output')
    .action(async (dead: string, opts: MembersOpts & { with: string; url: string }) => {
      const q = new URLSearchParams({ dead, with: opts.with, url: opts.url }).toString();
      const res = await clientFor(opts).requestJson<MembershipStatus>('POST', `/cluster/replace?${q}`, {
        idempotent: false,
      });
      printChange(opts, res, `replace of ${dead} by ${opts.with} begun`);
    });
  withClientOptions(cluster.command('cancel'))
    .description('give up the change in progress (refused once a partition has moved): the ring as before')
    .option('--node <url>', 'the node to cancel through (it drives what is left)', nodeDefault)
    .option('--json', 'machine-readable output')
    .action(async (opts: MembersOpts) => {
      const res = await clientFor(opts).requestJson<MembershipStatus>('POST', '/cluster/cancel', {
        idempotent: false,
      });
      printChange(opts, res, 'change cancelled');
    });
}
