// Client authentication on real nodes: with --client-tokens-file every public route needs a bearer token, a
// read-only token cannot change anything, and /internal/ stays under the cluster secret alone.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { encodeRecords } from '../src/cluster/codec.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { findToken, parseClientTokens } from '../src/server/auth/client-auth.js';
import { cli, http, startCluster } from './helpers.js';

const writer = randomBytes(32).toString('hex');
const reader = randomBytes(32).toString('base64url');
let dir: string;
let cluster: LocalCluster;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'converge-tokens-'));
  const file = join(dir, 'tokens');
  writeFileSync(file, `# access token name\nread-write ${writer} ops\n\nread-only  ${reader} dashboard\n`);
  chmodSync(file, 0o600);
  for (const [name, token] of [
    ['writer', writer],
    ['reader', reader],
  ] as const) {
    writeFileSync(join(dir, name), `${token}\n`, { mode: 0o600 });
  }
  cluster = await startCluster({
    nodes: 2,
    clusterSecret: randomBytes(32),
    settings: { 'client-tokens-file': file, 'anti-entropy': false },
  });
});
after(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const codeOf = (json: unknown): string | undefined => (json as { error?: { code?: string } }).error?.code;

test('without a token, or with a wrong or malformed one, every public route answers 401', async () => {
  const url = cluster.url('n1');
  const root = cluster.node('n1').ctx.replica.digest.rootHex();
  const attempts: Array<[string, 'GET' | 'PUT' | 'POST' | 'DELETE', string, Record<string, string>, string]> =
    [
      ['no token, status', 'GET', '/status', {}, 'TOKEN_REQUIRED'],
      ['no token, write', 'PUT', '/kv/k', {}, 'TOKEN_REQUIRED'],
      ['no token, dashboard data', 'GET', '/cluster', {}, 'TOKEN_REQUIRED'],
      ['no token, metrics', 'GET', '/metrics', {}, 'TOKEN_REQUIRED'],
      ['wrong token', 'PUT', '/kv/k', bearer(randomBytes(32).toString('hex')), 'TOKEN_INVALID'],
      ['a prefix of a real token', 'GET', '/kv/k', bearer(writer.slice(0, 40)), 'TOKEN_INVALID'],
      [
        'basic scheme',
        'GET',
        '/status',
        { authorization: `Basic ${Buffer.from(`x:${writer}`).toString('base64')}` },
        'TOKEN_INVALID',
      ],
      ['bearer without token', 'GET', '/status', { authorization: 'Bearer' }, 'TOKEN_INVALID'],
      ['two tokens', 'GET', '/status', { authorization: `Bearer ${writer} ${reader}` }, 'TOKEN_INVALID'],
    ];
  for (const [what, method, path, headers, code] of attempts) {
    const res = await http(method, `${url}${path}`, method === 'PUT' ? 'v' : undefined, headers);
    assert.equal(res.status, 401, `${what}: ${res.body}`);
    assert.equal(codeOf(res.json), code, what);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="converge"', what);
  }
  assert.equal(cluster.node('n1').ctx.replica.digest.rootHex(), root, 'nothing was written');
});

test('a read-only token reads but gets 403 for anything that writes; a read-write token writes', async () => {
  const url = cluster.url('n1');
  const put = await http('PUT', `${url}/kv/shared?consistency=all`, 'by-writer', bearer(writer));
  assert.equal(put.status, 200, put.body);
  assert.deepEqual(
    (put.json as { acknowledged: string[] }).acknowledged.sort(),
    ['n1', 'n2'],
    'replication needs no client token',
  );
  const root = cluster.node('n1').ctx.replica.digest.rootHex();
  const read = await http('GET', `${url}/kv/shared`, undefined, bearer(reader));
  assert.equal(read.status, 200, read.body);
  assert.equal(read.body, 'by-writer');
  assert.equal((await http('GET', `${url}/status`, undefined, bearer(reader))).status, 200);
  for (const [method, path] of [
    ['PUT', '/kv/shared'],
    ['DELETE', '/kv/shared'],
  ] as const) {
    const res = await http(
      method,
      `${url}${path}`,
      method === 'PUT' ? 'by-reader' : undefined,
      bearer(reader),
    );
    assert.equal(res.status, 403, `${method} ${path}: ${res.body}`);
    assert.equal(codeOf(res.json), 'TOKEN_READ_ONLY');
    assert.match(
      (res.json as { error: { message: string } }).error.message,
      new RegExp(`token dashboard is read-only; ${method} ${path} needs a read-write token`),
    );
  }
  assert.equal(cluster.node('n1').ctx.replica.digest.rootHex(), root, 'the read-only token changed nothing');
});

test('/internal/ stays under the cluster secret: a client token opens nothing there', async () => {
  const record = makeRecord(
    keyToBytes('forged'),
    { ms: Date.now(), counter: 0, node: 'n2' },
    keyToBytes('evil'),
  );
  const res = await http(
    'POST',
    `${cluster.url('n1')}/internal/replicate`,
    encodeRecords([record]),
    bearer(writer),
  );
  assert.equal(res.status, 401, res.body);
  assert.equal(codeOf(res.json), 'UNAUTHORIZED');
});

test('the CLI sends a token from CONVERGE_TOKEN or --token-file and reports refusals in one line', async () => {
  const url = cluster.url('n2');
  const env = (extra: Record<string, string>) => ({
    ...process.env,
    CONVERGE_TOKEN: '',
    CONVERGE_TOKEN_FILE: '',
    ...extra,
  });
  const [put, none, readOnly] = await Promise.all([
    cli(['put', 'cli-key', 'cli-value', '--node', url], undefined, env({ CONVERGE_TOKEN: writer })),
    cli(['get', 'shared', '--node', url], undefined, env({})),
    cli(['put', 'cli-key', 'x', '--node', url, '--token-file', join(dir, 'reader')], undefined, env({})),
  ]);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(none.code, 1);
  assert.equal(
    none.stderr.trim(),
    'converge: this node requires a client token: send Authorization: Bearer TOKEN (TOKEN_REQUIRED)',
  );
  assert.equal(readOnly.code, 1);
  assert.match(
    readOnly.stderr,
    /^converge: token dashboard is read-only; PUT \/kv\/cli-key needs a read-write token \(TOKEN_READ_ONLY\)\n$/,
  );
  const get = await cli(
    ['get', 'cli-key', '--node', url, '--token-file', join(dir, 'reader')],
    undefined,
    env({}),
  );
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout.trim(), 'cli-value');
});

test('the tokens file: errors name the file and line; lookups match whole tokens only', () => {
  const good = 'f'.repeat(64);
  assert.throws(
    () => parseClientTokens(`read-write ${good}\nadmin ${good}x\n`, 't'),
    /--client-tokens-file t line 2: access must be read-only, read-write or operator \(got "admin"\)/,
  );
  assert.throws(
    () => parseClientTokens('read-only short', 't'),
    /line 1: a token must be 32 to 512 characters \(got 5\)/,
  );
  assert.throws(
    () => parseClientTokens(`read-only ${good}\nread-write ${good}`, 't'),
    /line 2: this token is listed twice/,
  );
  assert.throws(
    () => parseClientTokens(`read-only ${good} name extra`, 't'),
    /line 1: expected ACCESS TOKEN \[NAME\]/,
  );
  assert.throws(() => parseClientTokens('# nothing here\n', 't'), /--client-tokens-file t: no tokens/);
  assert.throws(() => parseClientTokens(`read-only ${'é'.repeat(40)}`, 't'), /may hold only/);
  const tokens = parseClientTokens(`read-only ${good} a\nread-write ${'e'.repeat(64)}`, 't');
  assert.equal(findToken(tokens, good)?.name, 'a');
  assert.equal(findToken(tokens, 'e'.repeat(64))?.access, 'read-write');
  assert.equal(findToken(tokens, good.slice(1)), undefined);
  const ops = parseClientTokens(`operator ${good} ops-alice`, 't');
  assert.equal(findToken(ops, good)?.access, 'operator');
  assert.equal(findToken(ops, good)?.name, 'ops-alice');
});
