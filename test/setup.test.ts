// Set-up on a fresh clone: the README tour's commands work as typed (with `converge` on the PATH the way the
// README says), `npm start` runs the bundle, and no installed package asks for a newer Node than ours.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
// @ts-expect-error: a plain ES module of the build scripts, without type declarations
import { distIsFresh } from '../scripts/dist.mjs';
import { randomBasePort, startCluster } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;

function sh(
  script: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The `converge …` lines of a ```sh block that follows `marker` in the README. */
function tourBlock(readme: string, marker: string): string[] {
  const from = readme.indexOf(marker);
  assert.ok(from >= 0, `README has "${marker}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(from))?.[1] ?? '';
  return block.split('\n').filter((l) => l.startsWith('converge '));
}

test("the README tour's converge commands work as typed, after the README's PATH line", async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const pathLine = /```sh\n(export PATH=.*)\n```/.exec(readme)?.[1];
  assert.equal(pathLine, 'export PATH="$PWD/bin:$PATH"', 'the README says how `converge` gets on the PATH');
  const first = tourBlock(readme, '## A five-minute tour');
  const drift = tourBlock(readme, 'Make the replicas drift');
  assert.equal(first.length, 3);
  assert.equal(drift.length, 3);
  const cluster = await startCluster({ settings: { hints: false, 'request-timeout': '500ms' } });
  try {
    // The tour's URLs are the demo's default ports; this cluster listens elsewhere.
    const here = (line: string): string =>
      line.replace(/http:\/\/127\.0\.0\.1:710(\d)/g, (_m, i: string) => cluster.url(`n${i}`));
    // A shell without `converge` anywhere on its PATH but the README's line puts it there.
    const env = { ...process.env, PATH: '/usr/bin:/bin' };
    const node = process.execPath.replace(/\/node$/, '');
    const run = (line: string) => sh(`export PATH="${node}:$PATH"; ${pathLine}; ${here(line)}`, env);
    for (const line of first) {
      const res = await run(line);
      assert.equal(res.code, 0, `${line}: ${res.stderr}`);
    }
    assert.equal((await run(first[1]!)).stdout, 'hello');
    await cluster.stop('n3');
    const [one, all, status] = [await run(drift[0]!), await run(drift[1]!), await run(drift[2]!)];
    assert.equal(one.code, 0, one.stderr);
    assert.equal(all.code, 1);
    const promised = /# fails \(503\): "(.*); …"/.exec(drift[1]!)?.[1];
    assert.ok(
      promised !== undefined && all.stderr.startsWith(`converge: ${promised}`),
      `${all.stderr} starts as the README says`,
    );
    assert.equal(status.code, 2, 'status says it cannot tell while n3 is down');
  } finally {
    await cluster.close();
  }
});

test('npm start builds the bundle when a source changed and runs the demo from it', async () => {
  const scriptText = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts.start;
  assert.doesNotMatch(scriptText ?? '', /tsx/, 'npm start does not compile TypeScript as it loads');
  const port = randomBasePort();
  const child = spawn('npm', ['start', '--', '--nodes', '1', '--base-port', String(port)], {
    cwd: root,
    detached: true,
  });
  let stdout = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('dashboard:')) resolve();
    });
    child.on('exit', (code) =>
      reject(new Error(`npm start ended (${code}) before the demo listened: ${stdout}`)),
    );
  });
  try {
    await listening;
    assert.equal(
      (distIsFresh as (r: string) => boolean)(root),
      true,
      'the bundle is newer than every source, so bin/converge.js ran it',
    );
  } finally {
    // npm, its shell and the demo share a process group: stop exactly that group.
    const exited = new Promise((resolve) => child.once('close', resolve));
    process.kill(-child.pid!, 'SIGINT');
    await exited;
  }
});

/** True when `version` satisfies an engines range made of `>=X`, `^X` alternatives (what the lock holds). */
function satisfies(version: string, range: string): boolean {
  const parse = (v: string): number[] =>
    v
      .replace(/[^\d.]/g, '')
      .split('.')
      .map((n) => Number(n) || 0);
  const cmp = (a: number[], b: number[]): number => {
    for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  };
  const v = parse(version);
  return range.split('||').some((alt) => {
    const a = alt.trim();
    if (a.startsWith('>=')) return cmp(v, parse(a.slice(2).trim())) >= 0;
    if (a.startsWith('^')) return parse(a)[0] === v[0] && cmp(v, parse(a)) >= 0;
    return true;
  });
}

test('every locked package runs on the oldest Node the package accepts (npm ci prints no EBADENGINE)', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const oldest = pkg.engines.node.replace(/^>=\s*/, '');
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const refused = Object.entries(lock.packages)
    .filter(
      ([, p]) =>
        !Array.isArray(p.engines) && p.engines?.node !== undefined && !satisfies(oldest, p.engines.node),
    )
    .map(([name, p]) => `${name}@${p.version} needs node ${(p.engines as { node: string }).node}`);
  assert.deepEqual(refused, [], `Node ${oldest} (package.json engines) is accepted by every locked package`);
  assert.equal(satisfies('20.18.1', '>=22'), false, 'the check can fail');
});
