// A real `converge serve` on a small tmpfs, through fill, failure and recovery: the first failed commit
// answers 507 DISK_FULL (not "unreachable" naming the node), the process stays up and serves reads, a restart
// on the still-full disk survives the next large write too, and once space is freed writes succeed again by
// themselves. Needs root for `mount -t tmpfs`; where mounting is refused the test says so and skips (the
// loopback and simulator tests of a full disk still run).

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, http, killed, randomBasePort, spawnServe } from './helpers.js';

const tmpfsBytes = 24 * 2 ** 20;
/** Room the ballast leaves for the node: a few large values fit, then the disk is full. */
const roomBytes = 3 * 2 ** 20;
const valueBytes = 256 * 2 ** 10;
const writesMax = 200;

function tryMount(dir: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
}

const freeBytes = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

test('a full disk answers 507 DISK_FULL, the node stays up and serves reads, and recovers once space is freed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-fulldisk-'));
  const refused = tryMount(dir);
  if (refused !== null) {
    rmSync(dir, { recursive: true, force: true });
    t.skip(`mount -t tmpfs was refused (${refused}): run as root to test a real full disk`);
    return;
  }
  const port = randomBasePort() + 91;
  const url = `http://127.0.0.1:${port}`;
  const args = [
    '--id',
    'd1',
    '--listen',
    `127.0.0.1:${port}`,
    '--data',
    join(dir, 'data'),
    '--storage-retry',
    '200ms',
  ];
  const ballast = join(dir, 'ballast');
  let child: ChildProcess | undefined;
  let log = '';
  const start = async (): Promise<ChildProcess> => {
    const c = await spawnServe(args);
    c.stderr!.on('data', (d) => (log += d));
    c.stdout!.on('data', (d) => (log += d));
    return c;
  };
  try {
    child = await start();
    const value = Buffer.alloc(valueBytes, 7);
    assert.equal((await http('PUT', `${url}/kv/first?consistency=all`, value)).status, 200);
    writeFileSync(ballast, Buffer.alloc(Math.max(0, freeBytes(dir) - roomBytes)));

    // Fill: large writes until the disk refuses one.
    const acknowledged: string[] = [];
    let failure: Awaited<ReturnType<typeof http>> | undefined;
    for (let i = 0; i < writesMax && failure === undefined; i++) {
      const res = await http('PUT', `${url}/kv/fill${i}?consistency=all`, value);
      if (res.status === 200) acknowledged.push(`fill${i}`);
      else failure = res;
    }
    assert.ok(
      failure !== undefined,
      `${writesMax} writes of ${valueBytes} bytes fit in ${roomBytes} bytes of room`,
    );
    assert.equal(failure.status, 507, failure.body);
    const error = (failure.json as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'DISK_FULL');
    assert.doesNotMatch(error.message, /unreachable: d1/);

    // Still up: it reads, it says what is wrong, and more writes fail the same way.
    assert.equal(child.exitCode, null, `the node exited: ${log}`);
    const read = await http('GET', `${url}/kv/${acknowledged.at(-1) ?? 'first'}?consistency=all`);
    assert.equal(read.status, 200);
    assert.equal(read.body.length, valueBytes);
    const status = (await http('GET', `${url}/status`)).json as { storage: { state: string; code: string } };
    assert.deepEqual([status.storage.state, status.storage.code], ['failing', 'DISK_FULL']);
    const metrics = (await http('GET', `${url}/metrics`)).body;
    assert.match(metrics, /converge_storage_failing\{code="DISK_FULL"\} 1/);
    assert.equal((await http('PUT', `${url}/kv/again?consistency=all`, value)).status, 507);

    // A restart on the still-full disk: it starts, and the next large write fails without killing it.
    child.kill('SIGKILL');
    await killed(child);
    child = await start();
    await eventually(
      async () => (await http('PUT', `${url}/kv/restarted`, value)).status === 507,
      5000,
      'a 507 after the restart',
    );
    assert.equal(child.exitCode, null, `the restarted node exited: ${log}`);
    assert.equal((await http('GET', `${url}/kv/first`)).status, 200, 'acknowledged writes survive');

    // Space freed: writes succeed again by themselves, without a restart.
    rmSync(ballast);
    await eventually(
      async () => (await http('PUT', `${url}/kv/after`, value)).status === 200,
      5000,
      'a write to succeed again',
    );
    const healed = (await http('GET', `${url}/status`)).json as {
      storage: { state: string; recoveries: number };
    };
    assert.equal(healed.storage.state, 'ok');
    assert.equal(healed.storage.recoveries, 1);
    for (const key of acknowledged)
      assert.equal((await http('GET', `${url}/kv/${key}`)).status, 200, `${key} kept`);
    assert.match((await http('GET', `${url}/metrics`)).body, /converge_unhandled_rejections_total 0/);
    assert.doesNotMatch(log, /unhandled rejection/i);
  } finally {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGKILL');
      await killed(child);
    }
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});
