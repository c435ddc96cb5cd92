// The package's surface: the root entry exports what a program embedding a node needs (docs/library.md) and
// loads no native code; the core's entry leaves its internals and test double out.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { http } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;

/**
 * Imports `specifier` in a fresh process and returns the native modules it loaded (through process.dlopen).
 */
function nativeModulesLoadedBy(specifier: string): string[] {
  const code = `
    const loaded = [];
    const dlopen = process.dlopen;
    process.dlopen = function (module, file, ...rest) { loaded.push(file); return dlopen.call(this, module, file, ...rest); };
    await import(${JSON.stringify(specifier)});
    process.stdout.write(JSON.stringify(loaded));`;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(res.status, 0, res.stderr);
  return JSON.parse(res.stdout) as string[];
}

test("import 'converge' loads no native binding; 'converge/storage' does load lmdb's", () => {
  assert.deepEqual(nativeModulesLoadedBy('converge'), []);
  // The probe sees a native load when there is one: the storage entry opens lmdb's binding.
  assert.ok(
    nativeModulesLoadedBy('converge/storage').some((file) => /lmdb/.test(file)),
    'lmdb loads with converge/storage',
  );
});

test('the root entry exports the documented names, and the core leaves its internals out', async () => {
  const rootEntry = await import('../src/index.js');
  assert.deepEqual(Object.keys(rootEntry).sort(), [
    'ConvergeError',
    'errorCodes',
    'formatId',
    'resolveConfig',
    'startNode',
  ]);
  const core = (await import('../src/core/index.js')) as Record<string, unknown>;
  for (const internal of [
    'MemoryReplica',
    'saltedHash',
    'preferEntries',
    'readHeader',
    'writeRecordHeader',
    'backgroundFailures',
  ]) {
    assert.equal(core[internal], undefined, `converge/core should not export ${internal}`);
  }
  for (const name of [
    'DigestTree',
    'Reconciler',
    'respond',
    'encodeRoundRequest',
    'tokenOf',
    'merge',
    'ConvergeError',
  ]) {
    assert.notEqual(core[name], undefined, `converge/core exports ${name}`);
  }
});

test("startNode from the root entry runs a node with anti-entropy, as 'converge serve' does", async () => {
  const { resolveConfig, startNode } = await import('../src/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'converge-lib-'));
  const config = resolveConfig({ id: 'lib1', listen: '127.0.0.1:0', data: dir, 'log-level': 'warn' });
  const node = await startNode({ config });
  try {
    assert.equal((await http('PUT', `${node.url}/kv/hello?consistency=one`, 'world')).status, 200);
    assert.equal((await http('GET', `${node.url}/kv/hello?consistency=one`)).body, 'world');
    assert.equal((await http('GET', `${node.url}/antientropy`)).status, 200, 'anti-entropy is wired');
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
