import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Command } from 'commander';
import { configDefaults } from '../config/config.js';
import { serveOptions } from '../config/options.js';
import { registerServe } from './serve.js';

/** Settings that are no flag of `serve`, with why. */
const notFlags = new Set<string>([]);

function serveHelp(): string {
  const program = new Command();
  registerServe(program);
  const serve = program.commands.find((c) => c.name() === 'serve');
  assert.ok(serve !== undefined);
  // One option per line, however narrow the terminal.
  serve.configureHelp({ helpWidth: 1000 });
  return serve.helpInformation();
}

test('serve --help shows every default in one format, taken from the defaults table, and marks --id and --data required', () => {
  const help = serveHelp();
  const lines = help.split('\n').filter((l) => /^\s+--/.test(l));
  for (const key of Object.keys(configDefaults)) {
    if (notFlags.has(key)) continue;
    const value = configDefaults[key];
    const flag = value === true ? `--no-${key}` : `--${key}`;
    const line = lines.find(
      (l) =>
        l.trimStart().startsWith(`${flag} `) || l.trim() === flag || l.trimStart().startsWith(`${flag}  `),
    );
    assert.ok(line !== undefined, `serve --help lists ${flag}`);
    const shown = typeof value === 'boolean' ? (value ? 'on' : 'off') : value;
    assert.ok(line.endsWith(`(default: ${shown})`), `${flag} shows (default: ${shown}): ${line.trim()}`);
  }
  for (const line of lines) {
    if (/^\s+-h, --help/.test(line)) continue;
    assert.match(line, /\((default: [^)]+|required)\)$/, `one format for every option: ${line.trim()}`);
  }
  assert.match(help, /--id <id> .*\(required\)/);
  assert.match(help, /--data <dir> .*\(required\)/);
  assert.equal(
    serveOptions
      .filter((o) => o.required)
      .map((o) => o.name)
      .join(','),
    'id,data',
  );
});

test('docs/cli.md shows the same defaults as the defaults table', () => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## `serve` options'));
  let checked = 0;
  for (const row of section.split('\n').filter((l) => l.startsWith('| `--'))) {
    const [names, defaults] = row.split(' | ').map((c) => c.replace(/^\| /, ''));
    const flags = [...(names ?? '').matchAll(/`--([a-z-]+)/g)].map((m) => m[1]!);
    const values = (defaults ?? '').split(', ').map((v) => v.replace(/`/g, '').trim());
    if (flags.length !== values.length) continue;
    flags.forEach((flag, i) => {
      const key = flag.replace(/^no-/, '');
      const want = configDefaults[key];
      if (want === undefined || typeof want === 'boolean') return;
      assert.equal(values[i], want, `docs/cli.md: --${flag} defaults to ${want}`);
      checked += 1;
    });
  }
  assert.ok(checked >= 25, `checked ${checked} defaults in docs/cli.md`);
});
