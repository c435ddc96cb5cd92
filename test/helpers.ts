// Shared helpers of the loopback tests: clusters of real nodes on 127.0.0.1, awaiting conditions, HTTP calls.

import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'undici';
import { LocalCluster, type LocalClusterOptions } from '../src/cli/cluster.js';

/** A base port unlikely to collide with other test files or a running demo. */
export function randomBasePort(): number {
  // Below the kernel's ephemeral range (32768+), where outgoing connections would collide with listeners.
  return 20_000 + Math.floor(Math.random() * 120) * 100;
}

export async function startCluster(options: Partial<LocalClusterOptions> = {}): Promise<LocalCluster> {
  for (let attempt = 0; ; attempt++) {
    const cluster = new LocalCluster({
      nodes: 3,
      basePort: randomBasePort(),
      ...options,
    });
    try {
      await cluster.startAll();
      return cluster;
    } catch (err) {
      await cluster.close();
      if (attempt >= 4 || !String(err).includes('EADDRINUSE')) throw err;
    }
  }
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface HttpResult {
  status: number;
  body: string;
  json: unknown;
  headers: Record<string, string | string[] | undefined>;
}

export async function http(
  method: 'GET' | 'PUT' | 'DELETE' | 'POST',
  url: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const res = await request(url, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, body: text, json, headers: res.headers };
}

export function roots(cluster: LocalCluster): string[] {
  return [...cluster.running.values()].map((r) => r.ctx.replica.digest.rootHex());
}

export function converged(cluster: LocalCluster): boolean {
  const r = roots(cluster);
  return r.length === cluster.configs.length && new Set(r).size === 1;
}

/** Runs the CLI in a child process and collects its output. */
export function cli(
  args: string[],
  input?: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/converge.js', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(env === undefined ? {} : { env }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Starts `converge serve` as a child process and waits until it listens. */
export async function spawnServe(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['bin/converge.js', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    await eventually(
      () => out.includes('listening on') || child.exitCode !== null,
      20_000,
      'the node to listen',
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (child.exitCode !== null) throw new Error(`converge serve exited: ${out}`);
  return child;
}

export function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}
