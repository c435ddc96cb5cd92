// The bundled CLI: bin/converge.js runs dist/converge.mjs only while no source is newer, and the bundle is a
// working `converge` (it finds the dashboard's sources and its packages from dist/).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
// @ts-expect-error: a plain ES module of the build scripts, without type declarations
import { buildDist, distIsFresh } from '../scripts/dist.mjs';
import { killed, randomBasePort, spawnServe } from './helpers.js';

const isFresh = distIsFresh as (root: string) => boolean;
const build = buildDist as (root: string) => Promise<void>;

test('the bundle counts only while it is newer than every source file', () => {
  const root = mkdtempSync(join(tmpdir(), 'converge-dist-'));
  // Every file and folder of the tree at one time (folders too: adding or removing a file touches its
  // folder).
  const settle = (path: string, atSeconds: number): void => {
    if (statSync(path).isDirectory())
      for (const name of readdirSync(path)) settle(join(path, name), atSeconds);
    utimesSync(path, atSeconds, atSeconds);
  };
  const put = (path: string, atSeconds: number): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), 'x');
    settle(root, 1_000);
    utimesSync(join(root, path), atSeconds, atSeconds);
  };
  try {
    put('src/cli/main.ts', 1_000);
    put('web/main.ts', 1_000);
    put('package.json', 1_000);
    assert.equal(isFresh(root), false, 'no bundle yet');
    put('dist/converge.mjs', 2_000);
    assert.equal(isFresh(root), true);
    put('src/core/deep/edited.ts', 3_000);
    assert.equal(isFresh(root), false, 'a source edited after the build');
    put('dist/converge.mjs', 4_000);
    put('web/panels/x.ts', 5_000);
    assert.equal(isFresh(root), false, 'a dashboard source edited after the build');
    put('dist/converge.mjs', 6_000);
    put('package.json', 7_000);
    assert.equal(isFresh(root), false, 'package.json changed');
    put('dist/converge.mjs', 8_000);
    assert.equal(isFresh(root), true);
    rmSync(join(root, 'src/core/deep/edited.ts'));
    utimesSync(join(root, 'src/core/deep'), 9_000, 9_000);
    assert.equal(isFresh(root), false, 'a source removed after the build');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the built bundle serves a node and its dashboard', async () => {
  const root = join(import.meta.dirname, '..');
  await build(root);
  assert.equal(isFresh(root), true, 'bin/converge.js runs the bundle just built');
  const port = randomBasePort() + 91;
  const data = mkdtempSync(join(tmpdir(), 'converge-dist-node-'));
  const url = `http://127.0.0.1:${port}`;
  const node = await spawnServe([
    '--id',
    'n1',
    '--listen',
    `127.0.0.1:${port}`,
    '--data',
    data,
    '--peers',
    `n1=${url}`,
  ]);
  try {
    const page = await request(`${url}/`);
    assert.equal(page.statusCode, 200);
    assert.match(await page.body.text(), /<title>converge · dashboard<\/title>/);
    const js = await request(`${url}/assets/app.js`);
    assert.equal(js.statusCode, 200);
    assert.ok((await js.body.text()).length > 1000, 'the dashboard script is bundled');
    const put = await request(`${url}/kv/k?consistency=one`, { method: 'PUT', body: 'v' });
    assert.equal(put.statusCode, 200, await put.body.text());
    const got = await request(`${url}/kv/k`);
    assert.equal(await got.body.text(), 'v');
  } finally {
    node.kill('SIGTERM');
    await killed(node);
    rmSync(data, { recursive: true, force: true });
  }
});
