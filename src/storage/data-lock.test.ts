import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { acquireDataLock, lockFileName, prepareDataDir, startTicksOf } from './data-lock.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'converge-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function holderText(pid: number, startTicks: string | null): string {
  return JSON.stringify({
    pid,
    startTicks,
    host: hostname(),
    sinceIso: '2026-01-01T00:00:00.000Z',
    command: 'serve',
  });
}

function sleeper(t: TestContext): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  return child;
}

test('a data folder is held by one holder at a time; release lets the next one take it', (t) => {
  const dir = join(tempDir(t), 'n1');
  const lock = acquireDataLock('--data', dir);
  assert.ok(existsSync(join(dir, lockFileName)), 'created the folder and the lock file');
  assert.equal(JSON.parse(readFileSync(lock.file, 'utf8')).pid, process.pid);
  assert.throws(
    () => acquireDataLock('--data', dir),
    (err: Error & { code?: string }) =>
      err.code === 'DATA_DIR_LOCKED' &&
      err.message.startsWith(`--data ${dir} is in use by process ${process.pid}`),
  );
  lock.release();
  assert.equal(existsSync(lock.file), false, 'release removes the lock file');
  acquireDataLock('--data', dir).release();
});

test('a lock naming a live process refuses; once that process is gone (kill -9) the lock is taken over', async (t) => {
  const dir = tempDir(t);
  const child = sleeper(t);
  const pid = child.pid!;
  writeFileSync(join(dir, lockFileName), holderText(pid, startTicksOf(pid)));
  assert.throws(
    () => acquireDataLock('--data', dir),
    new RegExp(`is in use by process ${pid} .*lock file ${dir}/${lockFileName}`),
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  const lock = acquireDataLock('--data', dir);
  assert.equal(JSON.parse(readFileSync(lock.file, 'utf8')).pid, process.pid, 'the stale lock was replaced');
  lock.release();
});

test('a reused pid is not taken for the holder: the start time recorded with it must match', (t) => {
  const dir = tempDir(t);
  const child = sleeper(t);
  // The pid is alive, but the process holding it started at another time than the one recorded.
  writeFileSync(join(dir, lockFileName), holderText(child.pid!, '1'));
  acquireDataLock('--data', dir).release();
});

test('an unreadable lock is stale once it is older than a moment (a holder died while writing it)', (t) => {
  const dir = tempDir(t);
  const file = join(dir, lockFileName);
  writeFileSync(file, '');
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  acquireDataLock('--data', dir).release();
});

test('a data folder that cannot hold a database is refused with what to do', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  assert.throws(
    () => prepareDataDir('--data', file),
    /--data .*a-file is a file, not a folder: give a folder/,
  );
  assert.throws(
    () => prepareDataDir('--data', join(file, 'below')),
    /a part of the path is a file, not a folder/,
  );
  assert.throws(
    () => prepareDataDir('--data', '/proc/converge-data'),
    /--data \/proc\/converge-data is on proc, which cannot hold a database/,
  );
  assert.throws(() => prepareDataDir('--data', '/proc'), /is on proc/);
  mkdirSync(join(dir, 'fine'));
  assert.equal(prepareDataDir('--data', join(dir, 'fine')), join(dir, 'fine'));
});
