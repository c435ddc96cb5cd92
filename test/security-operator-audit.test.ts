// Operator actions leave a trail: a pino log line per call (token name, route, parameters, status, time),
// an entry in the anti-entropy history naming who paused or throttled repair and when, kept across a
// restart, and a warning in GET /status, GET /antientropy and `converge status` once a pause or throttle has
// been in force longer than --operator-action-warn-after. The CLI says which token kind a refused command
// needs.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AntiEntropyStatus } from '../src/antientropy/types.js';
import type { RunningNode } from '../src/server/server.js';
import { cli, eventually, http } from './helpers.js';
import {
  bearer,
  errorOf,
  type LogSink,
  logSink,
  startSolo,
  type TokenSet,
  writeTokens,
} from './security-operator-helpers.js';

let tokens: TokenSet;
let node: RunningNode;
let log: LogSink;
const warnAfter = '300ms';

async function start(): Promise<RunningNode> {
  return startSolo({
    dataDir: tokens.dir,
    log,
    settings: { 'client-tokens-file': tokens.file, 'operator-action-warn-after': warnAfter },
  });
}

before(async () => {
  tokens = writeTokens();
  log = logSink();
  node = await start();
});
after(async () => {
  await node?.stop();
  rmSync(tokens.dir, { recursive: true, force: true });
});

async function antiEntropy(token: string): Promise<AntiEntropyStatus> {
  const res = await http('GET', `${node.url}/antientropy`, undefined, bearer(token));
  assert.equal(res.status, 200, res.body);
  return res.json as AntiEntropyStatus;
}

test('a pause is logged with the token name, route and time, and shows as "paused by"', async () => {
  const before = Date.now();
  const res = await http('POST', `${node.url}/antientropy/pause`, undefined, bearer(tokens.operator));
  assert.equal(res.status, 200, res.body);
  const line = log.lines.find((l) => l.msg === 'operator action' && l.route === 'POST /antientropy/pause');
  assert.ok(line !== undefined, JSON.stringify(log.lines));
  assert.equal(line.token, 'ops-alice');
  assert.equal(line.kind, 'operator');
  assert.equal(line.node, 'n1');
  assert.equal(line.status, 200);
  assert.deepEqual(line.params, {});
  assert.ok(Date.parse(String(line.time)) >= before - 1000, `time ${String(line.time)}`);
  assert.ok(!JSON.stringify(log.lines).includes(tokens.operator), 'the log never carries a token');

  // Any token may read who paused repair: the history is a read.
  const ae = await antiEntropy(tokens.reader);
  assert.equal(ae.paused, true);
  assert.equal(ae.operator?.actions[0]?.action, 'pause');
  assert.equal(ae.operator?.actions[0]?.by, 'ops-alice');
  assert.ok((ae.operator?.actions[0]?.atMs ?? 0) >= before);
  assert.equal(ae.operator?.paused?.by, 'ops-alice');
  const status = await http('GET', `${node.url}/status`, undefined, bearer(tokens.writer));
  const viaStatus = (status.json as { antiEntropy: AntiEntropyStatus }).antiEntropy;
  assert.equal(viaStatus.operator?.paused?.by, 'ops-alice');
});

test('a refused call is logged with the caller token name and stays out of the history', async () => {
  const res = await http(
    'POST',
    `${node.url}/antientropy/throttle?records=1`,
    undefined,
    bearer(tokens.writer),
  );
  assert.equal(res.status, 403);
  assert.equal(errorOf(res.json).code, 'TOKEN_NOT_OPERATOR');
  const line = log.lines.find((l) => l.route === 'POST /antientropy/throttle' && l.status === 403);
  assert.ok(line !== undefined, JSON.stringify(log.lines));
  assert.equal(line.msg, 'operator action refused or failed');
  assert.equal(line.token, 'app');
  assert.deepEqual(line.params, { records: '1' });
  const ae = await antiEntropy(tokens.operator);
  assert.ok(!ae.operator?.actions.some((a) => a.action === 'throttle'), 'a refused call is no action');
  assert.equal(ae.throttle.recordsPerSecondMax, 50_000, 'the throttle did not move');
});

test('a pause or throttle in force past the warning time warns, also in converge status', async () => {
  const res = await http(
    'POST',
    `${node.url}/antientropy/throttle?records=5`,
    undefined,
    bearer(tokens.operator),
  );
  assert.equal(res.status, 200, res.body);
  let ae = await antiEntropy(tokens.operator);
  assert.equal(ae.operator?.throttled?.by, 'ops-alice');
  assert.deepEqual(ae.operator?.actions[0]?.params, { records: '5' });
  await eventually(
    async () => ((await antiEntropy(tokens.reader)).operator?.warnings.length ?? 0) === 2,
    5_000,
    'two warnings',
  );
  ae = await antiEntropy(tokens.reader);
  assert.match(
    ae.operator!.warnings[0]!,
    new RegExp(
      '^anti-entropy paused by ops-alice for \\d+s \\(since \\d{4}-.*Z\\), ' +
        'longer than operatorActionWarnAfterMs 300$',
    ),
  );
  assert.match(
    ae.operator!.warnings[1]!,
    /^anti-entropy throttled to 5 records\/s, \d+ bytes\/s by ops-alice/,
  );

  const env = { ...process.env, CONVERGE_TOKEN: tokens.reader, CONVERGE_TOKEN_FILE: '' };
  const out = await cli(['status', '--node', node.url], undefined, env);
  assert.match(out.stdout, /paused by ops-alice since \S+;/, out.stdout);
  assert.match(out.stdout, /^WARNING: n1: anti-entropy paused by ops-alice for /m, out.stdout);
  assert.match(out.stdout, /^WARNING: n1: anti-entropy throttled to 5 records\/s/m, out.stdout);
});

test('resume and a throttle back to the configured rate clear the warnings; the history stays', async () => {
  for (const path of ['/antientropy/resume', '/antientropy/throttle?records=50000']) {
    const res = await http('POST', `${node.url}${path}`, undefined, bearer(tokens.operator));
    assert.equal(res.status, 200, res.body);
  }
  const ae = await antiEntropy(tokens.reader);
  assert.equal(ae.paused, false);
  assert.equal(ae.operator?.paused, null);
  assert.equal(ae.operator?.throttled, null);
  assert.deepEqual(ae.operator?.warnings, []);
  assert.deepEqual(
    ae.operator?.actions.map((a) => `${a.action} by ${a.by}`),
    ['throttle by ops-alice', 'resume by ops-alice', 'throttle by ops-alice', 'pause by ops-alice'],
  );
});

test('the operator history survives a restart of the node', async () => {
  await node.stop();
  node = await start();
  const ae = await antiEntropy(tokens.reader);
  assert.deepEqual(
    ae.operator?.actions.map((a) => a.action),
    ['throttle', 'resume', 'throttle', 'pause'],
  );
});

test('the CLI says which token kind a refused operator command needs', async () => {
  const env = { ...process.env, CONVERGE_TOKEN: '', CONVERGE_TOKEN_FILE: join(tokens.dir, 'writer') };
  writeFileSync(join(tokens.dir, 'writer'), `${tokens.writer}\n`, { mode: 0o600 });
  const out = await cli(['ae', 'pause', '--node', node.url], undefined, env);
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr.trim(),
    'converge: token app is read-write; POST /antientropy/pause needs an operator token ' +
      '(TOKEN_NOT_OPERATOR): this command needs an operator token ' +
      '(a line "operator TOKEN NAME" in the node\'s --client-tokens-file), ' +
      'given with --token-file, CONVERGE_TOKEN_FILE or CONVERGE_TOKEN',
  );
  const ok = await cli(['ae', 'pause', '--node', node.url], undefined, {
    ...env,
    CONVERGE_TOKEN_FILE: '',
    CONVERGE_TOKEN: tokens.operator,
  });
  assert.equal(ok.code, 0, ok.stderr);
});

test('without a tokens file the controls stay open and the history says no token was used', async () => {
  const open = await startSolo({ dataDir: tokens.dir, id: 'n9', log });
  try {
    const res = await http('POST', `${open.url}/antientropy/pause`);
    assert.equal(res.status, 200, res.body);
    const who = await http('GET', `${open.url}/auth/whoami`);
    assert.deepEqual(who.json, { tokens: false, name: null, kind: null, operator: true });
    const ae = (await http('GET', `${open.url}/antientropy`)).json as AntiEntropyStatus;
    assert.deepEqual(ae.operator?.paused?.by, null);
    assert.equal(ae.operator?.actions[0]?.action, 'pause');
    const line = log.lines.find((l) => l.node === 'n9' && l.msg === 'operator action');
    assert.equal(line?.token, null);
  } finally {
    await open.stop();
  }
});
