// Rotating a client token without a restart: the node reloads its tokens file when the file changes and on
// SIGHUP; a file that no longer parses keeps the tokens in force and the log says why.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunningNode } from '../src/server/server.js';
import { eventually, http } from './helpers.js';
import {
  bearer,
  type LogSink,
  logSink,
  startSolo,
  type TokenSet,
  writeTokens,
} from './security-operator-helpers.js';

let tokens: TokenSet;
let log: LogSink;
const running: RunningNode[] = [];

before(() => {
  tokens = writeTokens();
  log = logSink();
});
after(async () => {
  for (const n of running) await n.stop();
  rmSync(tokens.dir, { recursive: true, force: true });
});

const statusWith = async (node: RunningNode, token: string): Promise<number> =>
  (await http('GET', `${node.url}/status`, undefined, bearer(token))).status;

/** Replaces the file the way editors and config tools do: write a new file, rename it over the old one. */
function replaceFile(file: string, text: string): void {
  const next = `${file}.next`;
  writeFileSync(next, text, { mode: 0o600 });
  renameSync(next, file);
}

test('a changed tokens file is picked up: the new token works, the removed one is refused', async () => {
  const file = join(tokens.dir, 'watched');
  writeFileSync(file, `operator ${tokens.operator} ops-alice\n`, { mode: 0o600 });
  const node = await startSolo({
    dataDir: tokens.dir,
    id: 'w1',
    log,
    settings: { 'client-tokens-file': file, 'client-tokens-poll': '50ms' },
  });
  running.push(node);
  assert.equal(await statusWith(node, tokens.operator), 200);
  const rotated = randomBytes(32).toString('hex');
  replaceFile(file, `operator ${rotated} ops-alice\n`);
  await eventually(async () => (await statusWith(node, rotated)) === 200, 5_000, 'the rotated token to work');
  assert.equal(await statusWith(node, tokens.operator), 401, 'the old token is gone');
  const line = log.lines.find((l) => l.node === 'w1' && l.msg === 'client tokens reloaded');
  assert.equal(line?.why, 'file changed');
  assert.equal(line?.tokens, 1);

  // A broken file keeps the tokens in force and says so.
  replaceFile(file, 'operator too-short ops-alice\n');
  await eventually(
    () => log.lines.some((l) => l.node === 'w1' && String(l.msg).startsWith('client tokens not reloaded')),
    5_000,
    'the failed reload to be logged',
  );
  const failed = log.lines.find(
    (l) => l.node === 'w1' && String(l.msg).startsWith('client tokens not reloaded'),
  );
  assert.match(String(failed?.error), /line 1: a token must be 32 to 512 characters/);
  assert.ok(!String(failed?.error).includes(rotated));
  assert.equal(await statusWith(node, rotated), 200, 'the last good tokens stay in force');
});

test('SIGHUP reloads the tokens file at once', async () => {
  const file = join(tokens.dir, 'signalled');
  writeFileSync(file, `read-only ${tokens.reader} grafana\n`, { mode: 0o600 });
  // Polling slower than the test: only the signal can make the change visible in time.
  const node = await startSolo({
    dataDir: tokens.dir,
    id: 's1',
    log,
    settings: { 'client-tokens-file': file, 'client-tokens-poll': '1h' },
  });
  running.push(node);
  const who = async (token: string): Promise<unknown> =>
    (await http('GET', `${node.url}/auth/whoami`, undefined, bearer(token))).json;
  assert.deepEqual(await who(tokens.reader), {
    tokens: true,
    name: 'grafana',
    kind: 'read-only',
    operator: false,
  });
  // The same token promoted to an operator: an in-place write (same inode, maybe the same size).
  writeFileSync(file, `operator ${tokens.reader} grafana\n`);
  process.kill(process.pid, 'SIGHUP');
  await eventually(
    async () => ((await who(tokens.reader)) as { kind?: string }).kind === 'operator',
    5_000,
    'the SIGHUP reload',
  );
  assert.ok(node.tokens !== undefined && node.tokens.reloads >= 1);
  const line = log.lines.find((l) => l.node === 's1' && l.msg === 'client tokens reloaded');
  assert.equal(line?.why, 'SIGHUP');
});
