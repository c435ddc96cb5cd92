// A real partition between `converge serve` processes: each node listens on its own loopback address and its
// outgoing connections leave from it, so iptables DROP rules between those addresses cut nodes apart the way
// a network does (packets vanish, nothing is refused). Checked: a write at `all` or `quorum` that cannot be
// met answers 503 within the request timeout plus a small margin, many at once included; and hints reach a
// peer that is back while another stays cut off (replay does not wait on pings to the cut-off one). Needs
// root and iptables; the rules carry a comment naming this process and exactly those are deleted after.

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, http, killed, randomBasePort, spawnServe } from './helpers.js';

const requestTimeoutMs = 1000;
/**
 * What the 503 may take beyond the timeout: the HTTP round trip to the coordinator and a busy shared machine.
 */
const marginMs = 700;
const addresses = { d1: '127.0.15.11', d2: '127.0.15.12', d3: '127.0.15.13' } as const;
type Id = keyof typeof addresses;
const ids = Object.keys(addresses) as Id[];
const tag = `converge-test-${process.pid}`;

class Partition {
  private readonly rules: string[][] = [];

  /** Drops every packet from a to b and from b to a. */
  cut(a: Id, b: Id): void {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const rule = [
        'INPUT',
        '-i',
        'lo',
        '-s',
        addresses[from],
        '-d',
        addresses[to],
        '-j',
        'DROP',
        '-m',
        'comment',
        '--comment',
        tag,
      ];
      execFileSync('iptables', ['-A', ...rule], { stdio: 'pipe' });
      this.rules.push(rule);
    }
  }

  /** Deletes exactly the rules this test added (those touching `only`, or all). */
  heal(only?: Id): void {
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i]!;
      if (only !== undefined && !rule.includes(addresses[only])) continue;
      execFileSync('iptables', ['-D', ...rule], { stdio: 'pipe' });
      this.rules.splice(i, 1);
    }
  }
}

function iptablesRefusal(): string | null {
  try {
    execFileSync('iptables', ['-S', 'INPUT'], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
}

async function startCluster(dataRoot: string, port: number, extra: string[]): Promise<Map<Id, ChildProcess>> {
  const url = (id: Id): string => `http://${addresses[id]}:${port}`;
  const peers = ids.map((id) => `${id}=${url(id)}`).join(',');
  const children = new Map<Id, ChildProcess>();
  for (const id of ids) {
    const args = [
      '--id',
      id,
      '--listen',
      `${addresses[id]}:${port}`,
      '--data',
      join(dataRoot, id),
      '--peers',
      peers,
    ];
    children.set(id, await spawnServe([...args, '--request-timeout', `${requestTimeoutMs}ms`, ...extra]));
  }
  return children;
}

async function timed(
  run: () => Promise<{ status: number; body: string }>,
): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  const res = await run();
  return { ...res, ms: performance.now() - t0 };
}

test('against a partitioned peer, writes at all and quorum answer 503 within the request timeout', async (t) => {
  const refused = iptablesRefusal();
  if (refused !== null) {
    t.skip(`iptables is not usable here (${refused}): run as root with iptables to test a real partition`);
    return;
  }
  const dataRoot = mkdtempSync(join(tmpdir(), 'converge-partition-'));
  const port = randomBasePort() + 92;
  const url = (id: Id): string => `http://${addresses[id]}:${port}`;
  const partition = new Partition();
  let children = new Map<Id, ChildProcess>();
  try {
    children = await startCluster(dataRoot, port, ['--no-anti-entropy', '--no-read-repair']);
    // Warm: every pool holds open connections, which a partition leaves hanging (not refused).
    assert.equal((await http('PUT', `${url('d1')}/kv/warm?consistency=all`, 'x')).status, 200);

    partition.cut('d1', 'd3');
    const all = await timed(() => http('PUT', `${url('d1')}/kv/a?consistency=all`, '1'));
    assert.equal(all.status, 503, all.body);
    assert.match(all.body, /unreachable: d3"?/);
    assert.ok(all.ms < requestTimeoutMs + marginMs, `503 at all after ${all.ms.toFixed(0)} ms`);
    t.diagnostic(`503 at all after ${all.ms.toFixed(0)} ms (request timeout ${requestTimeoutMs} ms)`);

    // d1 cut off from both: a quorum is out of reach. Many at once, so most wait for new connections.
    partition.cut('d1', 'd2');
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        timed(() => http('PUT', `${url('d1')}/kv/q${i}?consistency=quorum`, 'q')),
      ),
    );
    for (const res of burst) {
      assert.equal(res.status, 503, res.body);
      assert.match(res.body, /unreachable: d2, d3/);
    }
    const slowest = Math.max(...burst.map((r) => r.ms));
    assert.ok(
      slowest < requestTimeoutMs + marginMs,
      `the slowest of 40 quorum 503s took ${slowest.toFixed(0)} ms`,
    );
    t.diagnostic(`40 quorum writes at once: every one 503, the slowest after ${slowest.toFixed(0)} ms`);

    // d2 comes back while d3 stays cut off: the hints d1 holds for d2 arrive although pings to d3 hang.
    partition.heal('d2');
    const healedAt = performance.now();
    await eventually(
      async () => (await http('GET', `${url('d2')}/kv/q39?consistency=one`)).status === 200,
      8000,
      'the hint to reach d2',
    );
    const hintMs = performance.now() - healedAt;
    // Hint replay backs off up to hintBackoffMsMax between failures; a few seconds is its pace, not 10 s of
    // pings.
    assert.ok(hintMs < 6000, `hints reached d2 ${hintMs.toFixed(0)} ms after it was reachable again`);
    t.diagnostic(`hints reached d2 ${hintMs.toFixed(0)} ms after it was reachable again, d3 still cut off`);
    assert.equal(
      (await http('GET', `${url('d3')}/kv/q39?consistency=one`)).status,
      404,
      'd3 is still cut off',
    );
  } finally {
    partition.heal();
    for (const child of children.values()) {
      child.kill('SIGKILL');
      await killed(child);
    }
    rmSync(dataRoot, { recursive: true, force: true });
  }
});
