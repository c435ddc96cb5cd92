// One process per --data folder, checked with real `converge serve` processes: a second one is refused at
// start naming the folder and the first one's pid; after kill -9 of the holder the next start takes the stale
// lock over. Folders that cannot hold a database are refused at once with what to do.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { randomBasePort } from './helpers.js';

interface Served {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  /** Resolves with `listening` once the node listens, or with the exit code if it ends first. */
  readonly outcome: Promise<{ listening: boolean; code: number | null; stderr: string }>;
}

function serve(t: TestContext, args: string[], options: { uid?: number; gid?: number } = {}): Served {
  const child = spawn(process.execPath, ['bin/converge.js', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONVERGE_CLUSTER_SECRET: 'a-test-secret-of-enough-length-0123456789' },
    ...options,
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const outcome = new Promise<{ listening: boolean; code: number | null; stderr: string }>((resolve) => {
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('listening on')) resolve({ listening: true, code: null, stderr });
    });
    child.on('exit', (code) => resolve({ listening: false, code, stderr }));
  });
  return { child, outcome, stderr: () => stderr };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'converge-datafolder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a second process on the same --data is refused naming the folder and the holder; after kill -9 a new one starts', async (t) => {
  const data = join(tempDir(t), 'n1');
  const port = randomBasePort();
  const first = serve(t, ['--id', 'n1', '--listen', `127.0.0.1:${port + 1}`, '--data', data]);
  assert.equal((await first.outcome).listening, true, (await first.outcome).stderr);
  // Same id and same folder, another port: both would listen without the lock.
  const second = serve(t, ['--id', 'n1', '--listen', `127.0.0.1:${port + 2}`, '--data', data]);
  const refused = await second.outcome;
  assert.equal(refused.listening, false);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(
      `^converge: --data ${data} is in use by process ${first.child.pid} \\(since [^)]*serve[^)]*\\): two processes must never share a data folder; stop that one or choose another folder \\(lock file ${data}/converge.lock\\)\\n$`,
    ),
  );

  const exited = new Promise((resolve) => first.child.once('exit', resolve));
  first.child.kill('SIGKILL');
  await exited;
  const third = serve(t, ['--id', 'n1', '--listen', `127.0.0.1:${port + 3}`, '--data', data]);
  const started = await third.outcome;
  assert.equal(
    started.listening,
    true,
    `the stale lock (and lmdb's own lock.mdb) did not stop the restart: ${started.stderr}`,
  );
  const stopped = new Promise((resolve) =>
    third.child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  third.child.kill('SIGTERM');
  const how = await stopped;
  assert.equal(how, 0, `a SIGTERM stops the node cleanly: ${third.stderr()}`);
});

test('--data that cannot hold a database is refused at once, saying why: a file, /proc, a folder this user cannot write', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  const port = randomBasePort();
  const [onFile, onProc] = await Promise.all([
    serve(t, ['--id', 'n1', '--listen', `127.0.0.1:${port + 1}`, '--data', file]).outcome,
    serve(t, ['--id', 'n1', '--listen', `127.0.0.1:${port + 2}`, '--data', '/proc/converge']).outcome,
  ]);
  assert.equal(
    onFile.stderr
      .split('\n')
      .filter((l) => l.startsWith('converge: ') && !l.includes('WARNING'))
      .join('\n'),
    `converge: --data ${file} is a file, not a folder: give a folder (it is created if missing)`,
  );
  assert.equal(onFile.code, 1);
  assert.match(
    onProc.stderr,
    /converge: --data \/proc\/converge is on proc, which cannot hold a database: choose a folder on a disk\n$/,
  );
  assert.equal(onProc.code, 1);

  // A folder the process may not write: as root every folder is writable, so the node runs as nobody.
  const locked = join(dir, 'read-only');
  mkdirSync(locked);
  chmodSync(dir, 0o755);
  chmodSync(locked, 0o555);
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const readOnly = await serve(
    t,
    ['--id', 'n1', '--listen', `127.0.0.1:${port + 3}`, '--data', locked],
    asNobody,
  ).outcome;
  assert.equal(readOnly.code, 1);
  assert.match(
    readOnly.stderr,
    new RegExp(
      `converge: --data ${locked}: cannot write in the folder \\(EACCES\\): choose a folder this user can write, or fix its permissions\\n$`,
    ),
  );
});
