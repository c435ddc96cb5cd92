// Keeps the architecture honest: the pure core imports nothing from Node or the rest of the project,
// folders import each other without cycles, and the package's exports map points at existing index files.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) stack.push(p);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
    }
  }
  return out.sort();
}

/** Module specifiers of static and dynamic imports and re-exports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  const patterns = [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) specs.push(m[1]!);
  return specs;
}

function folderOf(file: string): string {
  return relative(src, file).split('/')[0]!;
}

test('src/core imports no Node module and nothing outside src/core', () => {
  const allowedPackages = new Set(['xxhash-wasm']);
  for (const file of sourceFiles(join(src, 'core'))) {
    for (const spec of importsOf(file)) {
      const where = relative(root, file);
      if (spec.startsWith('.')) {
        const target = normalize(join(dirname(file), spec));
        assert.ok(target.startsWith(join(src, 'core')), `${where} imports ${spec}, outside src/core`);
      } else {
        assert.ok(
          allowedPackages.has(spec),
          `${where} imports ${spec}; the core may import only ${[...allowedPackages]}`,
        );
      }
    }
  }
});

test('no import cycles between the folders of src/', () => {
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(src)) {
    const from = folderOf(file);
    if (!from.includes('.')) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = normalize(join(dirname(file), spec));
        if (!target.startsWith(src)) continue;
        const to = folderOf(target);
        if (to === from || to.includes('.')) continue;
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)!.add(to);
      }
    }
  }
  // Depth-first search with an explicit stack; a grey node reached again closes a cycle.
  const state = new Map<string, 'grey' | 'black'>();
  for (const start of edges.keys()) {
    if (state.has(start)) continue;
    const stack: Array<{ node: string; next: string[] }> = [
      { node: start, next: [...(edges.get(start) ?? [])] },
    ];
    const path = [start];
    state.set(start, 'grey');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.next.pop();
      if (child === undefined) {
        state.set(top.node, 'black');
        stack.pop();
        path.pop();
        continue;
      }
      assert.notEqual(state.get(child), 'grey', `folder import cycle: ${[...path, child].join(' → ')}`);
      if (state.get(child) === 'black') continue;
      state.set(child, 'grey');
      path.push(child);
      stack.push({ node: child, next: [...(edges.get(child) ?? [])] });
    }
  }
});

test('the exports map points at existing index files of the folders', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, string>;
  };
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    assert.ok(existsSync(join(root, target)), `exports["${subpath}"] → ${target} does not exist`);
    if (subpath !== '.')
      assert.match(target, /\/index\.ts$/, `exports["${subpath}"] should point at a folder's index.ts`);
  }
});

test('the simulator never reaches the real world: no real clock, timers, network or disk', () => {
  const forbiddenFolders = new Set(['runtime', 'server', 'cli']);
  const forbiddenPackages = new Set([
    'undici',
    'lmdb',
    'fastify',
    'node:net',
    'node:http',
    'node:fs',
    'node:timers',
  ]);
  for (const file of sourceFiles(join(src, 'sim'))) {
    const where = relative(root, file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = normalize(join(dirname(file), spec));
        assert.ok(
          !forbiddenFolders.has(folderOf(target)),
          `${where} imports ${spec}; the simulator must not use src/${folderOf(target)}`,
        );
      } else {
        assert.ok(
          !forbiddenPackages.has(spec),
          `${where} imports ${spec}; the simulator must not touch the real world`,
        );
      }
    }
    const text = readFileSync(file, 'utf8');
    for (const real of ['Date.now(', 'Math.random(', 'setTimeout(', 'setInterval(']) {
      assert.ok(!text.includes(real), `${where} calls ${real}: the simulator runs on its own clock and seed`);
    }
  }
});
