// A node whose clock runs an hour ahead, as real processes: its wall clock is moved by a test-only preload.
// Its peers refuse what it stamps on every path (replication, anti-entropy, read), later writes are not lost,
// it refuses to coordinate once it measures its clock against theirs, and the operator's tool finds and
// removes the future-stamped record it kept, after which anti-entropy brings the peers' version back.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, eventually, http, killed, randomBasePort } from './helpers.js';

const hourMs = 3_600_000;
const preload = join(import.meta.dirname, 'clock-offset-preload.mjs');

async function serve(args: string[], offsetMs: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', preload, 'bin/converge.js', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TEST_CLOCK_OFFSET_MS: String(offsetMs) },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await eventually(
    () => out.includes('listening on') || child.exitCode !== null,
    20_000,
    'the node to listen',
  );
  if (child.exitCode !== null) throw new Error(`converge serve exited: ${out}`);
  return child;
}

async function metric(url: string, name: string, source: string): Promise<number> {
  const text = (await http('GET', `${url}/metrics`)).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{source="${source}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

interface ClockStatus {
  skewed: boolean;
  reason: string | null;
}

test('a node whose clock runs an hour ahead: its future-stamped writes are refused, it stops coordinating, and the operator removes what it kept', async () => {
  const base = randomBasePort();
  const ids = ['a', 'b', 'c'];
  const url = (i: number): string => `http://127.0.0.1:${base + i + 1}`;
  const dirs = ids.map((id) => mkdtempSync(join(tmpdir(), `converge-clock-${id}-`)));
  const args = (i: number, extra: string[] = []): string[] => [
    '--id',
    ids[i]!,
    '--listen',
    `127.0.0.1:${base + i + 1}`,
    '--data',
    dirs[i]!,
    '--peers',
    ids.map((id, j) => `${id}=${url(j)}`).join(','),
    '--ae-interval',
    '300ms',
    ...extra,
  ];
  const children: ChildProcess[] = [];
  const stop = async (child: ChildProcess): Promise<void> => {
    child.kill('SIGKILL');
    await killed(child);
  };
  try {
    children[1] = await serve(args(1), 0);
    children[2] = await serve(args(2), 0);
    // Its own bound set wide, node a coordinates despite its clock: what it stamps is an hour ahead.
    children[0] = await serve(args(0, ['--max-clock-drift', '10h']), hourMs);
    const ahead = await http('PUT', `${url(0)}/kv/k?consistency=quorum`, 'from the future');
    assert.equal(ahead.status, 503, 'b and c refuse the write a stamped an hour ahead');
    const later = await http('PUT', `${url(1)}/kv/k?consistency=quorum`, 'written later');
    assert.equal(later.status, 200);
    assert.ok((await metric(url(1), 'converge_clock_ahead_refused_total', 'replication')) >= 1);
    // Anti-entropy between a and b offers b the future record again and again; b refuses it every time.
    await eventually(
      async () => (await metric(url(1), 'converge_clock_ahead_refused_total', 'anti-entropy')) >= 1,
      20_000,
      'b to refuse the record in anti-entropy',
    );
    for (const i of [1, 2]) {
      const read = await http('GET', `${url(i)}/kv/k?consistency=all`);
      assert.equal(
        read.body,
        'written later',
        `node ${ids[i]} reads the acknowledged write, not the future one`,
      );
    }

    // With the default bound, a measures its clock on its pings and refuses to coordinate.
    await stop(children[0]);
    children[0] = await serve(args(0), hourMs);
    await eventually(
      async () => ((await http('GET', `${url(0)}/status`)).json as { clock: ClockStatus }).clock.skewed,
      20_000,
      'a to find its clock off',
    );
    const refused = await http('PUT', `${url(0)}/kv/other?consistency=one`, 'x');
    assert.equal(refused.status, 503);
    assert.equal((refused.json as { error: { code: string } }).error.code, 'CLOCK_SKEWED');
    const status = await cli(['status', '--node', url(1)]);
    assert.match(status.stdout, /clock/i);
    assert.match(status.stdout, /a: .*CLOCK SKEWED|CLOCK SKEWED.*\ba\b/s);
    const peerView = (await http('GET', `${url(1)}/status`)).json as { clock: ClockStatus };
    assert.equal(peerView.clock.skewed, false, 'b, in step with c, keeps coordinating');

    // The clock fixed, the operator lists what a kept from its hour ahead and removes it.
    await stop(children[0]);
    children[0] = await serve(args(0), 0);
    const list = await cli(['clock', 'ahead', '--node', url(0), '--json']);
    assert.equal(list.code, 0, list.stderr);
    const found = JSON.parse(list.stdout) as { records: Array<{ key: string; aheadMs: number }> };
    assert.deepEqual(
      found.records.map((r) => r.key),
      ['k'],
    );
    assert.ok(found.records[0]!.aheadMs > hourMs / 2);
    const drop = await cli(['clock', 'ahead', '--node', url(0), '--drop', '--json']);
    assert.equal((JSON.parse(drop.stdout) as { dropped: number }).dropped, 1);
    await eventually(
      async () => (await http('GET', `${url(0)}/kv/k?consistency=one`)).body === 'written later',
      20_000,
      "anti-entropy to bring b's version back to a",
    );
    const roots = async (): Promise<string[]> =>
      Promise.all(
        [0, 1, 2].map(
          async (i) =>
            ((await http('GET', `${url(i)}/status`)).json as { digest: { root: string } }).digest.root,
        ),
      );
    await eventually(async () => new Set(await roots()).size === 1, 20_000, 'equal roots');
    assert.equal((await http('PUT', `${url(0)}/kv/k?consistency=all`, 'fixed')).status, 200);
  } finally {
    for (const child of children) if (child !== undefined) await stop(child);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
});
