// Structured logs honour the configured log level (the `log-level` key, `--log-level` on the command line),
// and background failures are a metric of the node.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { useLogger } from '../src/runtime/logging.js';
import { eventually, http } from './helpers.js';

/** Starts `converge serve` with a config file, waits until it listens, returns its stderr lines and URL. */
async function serveWith(
  config: Record<string, string>,
  onUp: (url: string) => Promise<void>,
): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'converge-log-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const args = [
    'bin/converge.js',
    'serve',
    '--id',
    'n1',
    '--listen',
    '127.0.0.1:0',
    '--data',
    join(dir, 'data'),
  ];
  const child = spawn(process.execPath, [...args, '--config', join(dir, 'config.json')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    await eventually(
      () => out.includes('listening on') || child.exitCode !== null,
      20_000,
      'the node to listen',
    );
    assert.equal(child.exitCode, null, `converge serve exited: ${out}${err}`);
    await onUp(/listening on (\S+)/.exec(out)![1]!);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    rmSync(dir, { recursive: true, force: true });
  }
  return err.split('\n').filter((l) => l.startsWith('{'));
}

test('the node logs its start as JSON on stderr at level info, and not at level warn', async () => {
  const info = await serveWith({ 'log-level': 'info' }, async (url) => {
    const metrics = await http('GET', `${url}/metrics`);
    assert.match(metrics.body, /# TYPE converge_background_failures_total counter/);
  });
  const started = info
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'node started');
  assert.ok(started !== undefined, `no start line in ${info.join('\n')}`);
  assert.equal(started.node, 'n1');
  assert.equal(started.level, 30);
  const quiet = await serveWith({ 'log-level': 'warn' }, async () => {});
  assert.deepEqual(quiet, [], 'nothing below warn is logged at level warn');
});

test('an unknown log level is refused with CONFIG_INVALID naming the levels', () => {
  assert.throws(() => useLogger('loud', 'n1'), {
    code: 'CONFIG_INVALID',
    message: /log-level loud is not one of fatal, error/,
  });
});
