// Tidy checks, run with every `npm test` (TigerBeetle runs its own the same way): short functions, a pure
// core free of Node's globals, and biome over the whole tree. Parsing goes through
// the TypeScript compiler API (test/tidy/source-scan.ts), so comments and strings never count.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { functionSpans, globalUses, root, sourceFiles } from './tidy/source-scan.js';

/** STYLE.md: a function longer than this is two ideas. */
const functionLinesMax = 70;

/**
 * The functions allowed to be longer than functionLinesMax, with their length when listed; empty since the
 * last ones were split. The list may only shrink: a listed function may not grow, a new long function may not
 * be added, and an entry whose function is split (or gone) must be removed.
 */
const longFunctionsAllowed: Readonly<Record<string, number>> = {};

const checkedFolders = ['src', 'bench', 'scripts', 'test'];

test(`functions stay within ${functionLinesMax} lines (the allowlist of longer ones only shrinks)`, () => {
  // Test files are checked too, except the bodies of test(...) callbacks, which read as one scenario each.
  const spans = checkedFolders
    .flatMap((d) => sourceFiles(d))
    .flatMap(functionSpans)
    .filter((f) => !/#.*test\(…\)/.test(f.name));
  const long = new Map(spans.filter((f) => f.lines > functionLinesMax).map((f) => [f.name, f]));
  const problems: string[] = [];
  for (const [name, f] of long) {
    const allowed = longFunctionsAllowed[name];
    if (allowed === undefined) problems.push(`${name} (line ${f.line}) has ${f.lines} lines; split it`);
    else if (f.lines > allowed)
      problems.push(`${name} grew from ${allowed} to ${f.lines} lines; it may only shrink`);
  }
  for (const name of Object.keys(longFunctionsAllowed)) {
    if (!long.has(name)) problems.push(`${name} is now short (or gone): remove it from longFunctionsAllowed`);
  }
  assert.deepEqual(problems, []);
});

/** Node's globals and the real world's: the core takes time, randomness and I/O as injected dependencies. */
const coreBannedGlobals = new Set([
  'Buffer',
  'process',
  'global',
  'require',
  'module',
  '__dirname',
  '__filename',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'performance',
  'fetch',
  'crypto',
  'console',
  'Date',
]);

test('src/core uses no Node or real-world globals (Buffer, process, timers, Date, console, ...)', () => {
  const uses = sourceFiles('src/core').flatMap((file) =>
    globalUses(file, coreBannedGlobals).map((u) => `${file}:${u.line} uses ${u.name}`),
  );
  assert.deepEqual(uses, []);
  // Math.random too: randomness is a Random passed in.
  const random = sourceFiles('src/core').filter((file) => /\bMath\.random\s*\(/.test(stripComments(file)));
  assert.deepEqual(random, []);
});

test('no rejection is swallowed in src: .catch(() => {}) is replaced by logFailure(what)', () => {
  const swallowed = sourceFiles('src', true).filter((file) =>
    /\.catch\(\s*\(\)\s*=>\s*\{\s*\}\s*\)/.test(stripComments(file)),
  );
  assert.deepEqual(
    swallowed,
    [],
    'log and count the failure: .catch(logFailure(what)) from src/core/failures.ts',
  );
});

function stripComments(file: string): string {
  const text = readFileSync(join(root, file), 'utf8');
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** Everything biome covers: `npm run lint` checks the same folders, so the two cannot drift apart. */
const biomeFolders = ['src', 'test', 'bench', 'web', 'scripts', 'bin'];

test('biome finds nothing to change anywhere in the tree', () => {
  const biome = join(root, 'node_modules', '.bin', 'biome');
  const res = spawnSync(biome, ['check', '--colors=off', ...biomeFolders], { cwd: root, encoding: 'utf8' });
  assert.equal(res.status, 0, `biome check failed:\n${res.stdout}\n${res.stderr}`);
});
