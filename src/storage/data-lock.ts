// One process per data folder. lmdb lets many processes open one environment (its lock.mdb coordinates
// readers, not owners), so two nodes on one --data would both write and their digests would disagree with
// what they store. `converge.lock` in the folder names the holder (pid, and on Linux the process's start
// time, so a reused pid is not taken for the holder); a holder that is gone (kill -9) leaves a stale lock,
// which the next start takes over.

import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConvergeError } from '../core/errors.js';

export const lockFileName = 'converge.lock';

interface LockHolder {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, names one process on Linux. */
  readonly startTicks: string | null;
  readonly host: string;
  readonly sinceIso: string;
  readonly command: string;
}

export interface DataLock {
  readonly dir: string;
  readonly file: string;
  release(): void;
}

/** Folders this process holds: a lock naming our own pid is ours only while it is in here. */
const heldHere = new Set<string>();

/** File systems on which a database must never be opened (lmdb on /proc blocks instead of failing). */
const pseudoFileSystems: Record<number, string> = {
  40864: 'proc',
  1650812274: 'sysfs',
  2613483: 'cgroup',
  1667723888: 'cgroup2',
  1684170528: 'debugfs',
  1953653091: 'tracefs',
  1935894131: 'securityfs',
  7377: 'devpts',
};

function dataError(message: string): ConvergeError {
  return new ConvergeError('CONFIG_INVALID', message);
}

/** Creates the folder if needed, refusing what cannot hold a database, with what to do instead. */
export function prepareDataDir(option: string, path: string): string {
  const dir = resolve(path);
  let probe = dir;
  // The nearest existing folder tells the file system the new one would live on.
  for (;;) {
    try {
      statSync(probe);
      break;
    } catch {
      if (dirname(probe) === probe) break;
      probe = dirname(probe);
    }
  }
  const fsName = pseudoFileSystems[statfsSync(probe).type];
  if (fsName !== undefined)
    throw dataError(
      `${option} ${path} is on ${fsName}, which cannot hold a database: choose a folder on a disk`,
    );
  try {
    const st = statSync(dir);
    if (!st.isDirectory())
      throw dataError(`${option} ${path} is a file, not a folder: give a folder (it is created if missing)`);
  } catch (err) {
    if (err instanceof ConvergeError) throw err;
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST')
      throw dataError(`${option} ${path}: a part of the path is a file, not a folder`);
    throw dataError(
      `${option} ${path}: cannot create the folder (${code}): choose a folder this user can write`,
    );
  }
  return dir;
}

/** Takes the folder's lock or throws DATA_DIR_LOCKED naming the process that holds it. */
export function acquireDataLock(option: string, path: string): DataLock {
  const dir = prepareDataDir(option, path);
  const file = join(dir, lockFileName);
  if (heldHere.has(dir)) throw lockedError(option, path, file, ownHolder());
  // Each pass either takes the lock, refuses, or removes a stale one; another process racing for the same
  // stale lock makes a pass end without a decision, so a few passes suffice.
  for (let pass = 0; pass < 5; pass++) {
    if (tryCreate(option, path, file)) {
      heldHere.add(dir);
      return { dir, file, release: () => release(dir, file) };
    }
    const text = readLock(file);
    if (text === undefined) continue;
    const holder = parseHolder(text);
    if (holder !== undefined && isAlive(holder)) throw lockedError(option, path, file, holder);
    // An unreadable lock is left by a holder that died while writing it, unless one is writing it now.
    if (holder === undefined && Date.now() - mtimeMs(file) < 2000) continue;
    removeStale(file, text);
  }
  throw dataError(`${option} ${path}: could not take ${file}: other processes keep taking it`);
}

function tryCreate(option: string, path: string, file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw dataError(
      `${option} ${path}: cannot write in the folder (${code}): choose a folder this user can write, or fix its permissions`,
    );
  }
  try {
    writeSync(fd, `${JSON.stringify(ownHolder())}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Moves the stale lock aside and checks that what moved is the lock that was judged stale: if another
 * process replaced it meanwhile, its fresh lock is put back.
 */
function removeStale(file: string, judged: string): void {
  const aside = `${file}.stale-${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // someone else moved it first: the next pass looks again
  }
  if (readLock(aside) !== judged) {
    renameSync(aside, file);
    return;
  }
  unlinkSync(aside);
}

function release(dir: string, file: string): void {
  if (!heldHere.delete(dir)) return;
  const holder = parseHolder(readLock(file) ?? '');
  if (holder?.pid === process.pid) unlinkSync(file);
}

function readLock(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function mtimeMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    return typeof h.pid === 'number' && Number.isInteger(h.pid) && h.pid > 0 ? (h as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

export function startTicksOf(pid: number): string | null {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function ownHolder(): LockHolder {
  return {
    pid: process.pid,
    startTicks: startTicksOf(process.pid),
    host: hostname(),
    sinceIso: new Date().toISOString(),
    command: process.argv.slice(2).join(' ').slice(0, 200),
  };
}

/** A holder on another host cannot be checked from here, so it counts as alive. */
export function isAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return false; // not in heldHere: left by an earlier process with our pid
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const ticks = startTicksOf(holder.pid);
  return holder.startTicks === null || ticks === null || ticks === holder.startTicks;
}

function lockedError(option: string, path: string, file: string, holder: LockHolder): ConvergeError {
  const where =
    holder.host === hostname() ? `process ${holder.pid}` : `process ${holder.pid} on host ${holder.host}`;
  return new ConvergeError(
    'DATA_DIR_LOCKED',
    `${option} ${path} is in use by ${where} (since ${holder.sinceIso}${holder.command ? `: ${holder.command}` : ''}): two processes must never share a data folder; stop that one or choose another folder (lock file ${file})`,
    { dir: path, pid: holder.pid, host: holder.host },
  );
}
