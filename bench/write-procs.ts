// The processes the write benchmark measures, each in its own OS process as deployed: `converge serve` nodes
// (a 3-node cluster, or one node with no peers) and a 3-member etcd cluster on loopback. Started and stopped
// here; every child is killed by its own pid.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';

export interface Procs {
  readonly urls: ReadonlyMap<string, string>;
  /** CPU ms (user + system, all threads) each process has used so far, in start order. */
  cpuMs(): number[];
  stop(): Promise<void>;
}

/** /proc/PID/stat: utime and stime are fields 14 and 15, in clock ticks (100 a second on Linux). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** `converge serve` processes with ids `ids`, each listing the others as peers. */
export async function startConvergeNodes(
  root: string,
  basePort: number,
  ids: readonly string[],
  settings: Record<string, string | boolean>,
): Promise<Procs> {
  const urls = new Map(ids.map((id, i) => [id, `http://127.0.0.1:${basePort + i + 1}`]));
  mkdirSync(root, { recursive: true });
  const children: ChildProcess[] = [];
  const stop = (): Promise<void> => stopAll(children);
  try {
    await Promise.all(
      ids.map(async (id) => {
        const file = join(root, `${id}.json`);
        const peers = ids
          .filter((p) => p !== id)
          .map((p) => `${p}=${urls.get(p)}`)
          .join(',');
        const config = {
          sync: 'group',
          'anti-entropy': false,
          ...settings,
          id,
          data: join(root, id),
          listen: urls.get(id)!.slice(7),
          peers,
        };
        writeFileSync(file, JSON.stringify(config));
        const child = spawn(process.execPath, ['bin/converge.js', 'serve', '--config', file], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, CONVERGE_CLUSTER_SECRET: 'bench-write-secret-0123456789abcdef' },
        });
        children.push(child);
        await waitForOutput(child, 'listening on', `converge ${id}`);
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const ordered = ids.map((id) => children[ids.indexOf(id)]);
  return { urls, stop, cpuMs: () => ordered.map((c) => processCpuMs(c?.pid)) };
}

/** Whether the etcd binary is installed (Debian's etcd-server). */
export function etcdAvailable(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A 3-member etcd cluster on loopback, as /work/shared/STACK.md describes; client URLs by member. */
export async function startEtcd(root: string, basePort: number): Promise<Procs> {
  const names = ['e1', 'e2', 'e3'];
  const client = (i: number): string => `http://127.0.0.1:${basePort + 2 * i + 1}`;
  const peer = (i: number): string => `http://127.0.0.1:${basePort + 2 * i + 2}`;
  const initial = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const children: ChildProcess[] = [];
  const stop = (): Promise<void> => stopAll(children);
  try {
    for (const [i, name] of names.entries()) {
      const child = spawn(
        'etcd',
        [
          '--name',
          name,
          '--data-dir',
          join(root, name),
          '--listen-client-urls',
          client(i),
          '--advertise-client-urls',
          client(i),
          '--listen-peer-urls',
          peer(i),
          '--initial-advertise-peer-urls',
          peer(i),
          '--initial-cluster',
          initial,
          '--initial-cluster-state',
          'new',
          '--log-level',
          'error',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
    }
    await waitForEtcd(client(0));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls: new Map(names.map((n, i) => [n, client(i)])),
    stop,
    cpuMs: () => children.map((c) => processCpuMs(c.pid)),
  };
}

async function waitForEtcd(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await request(`${url}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: 'd2FybQ==', value: 'eA==' }),
      });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`etcd at ${url} did not accept a write within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function waitForOutput(child: ChildProcess, text: string, what: string): Promise<void> {
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes(text)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`${what} exited (${code ?? signal}): ${out.slice(-2000)}`)),
    );
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}
