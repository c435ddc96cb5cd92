// The replicated store over real HTTP on 127.0.0.1: consistency levels, the 503 explanation, hinted handoff
// across a restart, and bad inputs that get their documented errors while the node keeps serving.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { cli, eventually, http, startCluster } from './helpers.js';

let cluster: LocalCluster;
const url = (id: string, path: string): string => `${cluster.url(id)}${path}`;

before(async () => {
  cluster = await startCluster({ settings: { 'anti-entropy': false, 'request-timeout': '1s' } });
});
after(async () => cluster.close());

test('a write at quorum is readable from every node', async () => {
  const put = await http('PUT', url('n1', '/kv/greeting?consistency=quorum'), 'hello');
  assert.equal(put.status, 200);
  assert.ok((put.json as { acknowledged: string[] }).acknowledged.length >= 2);
  for (const id of ['n1', 'n2', 'n3']) {
    const get = await http('GET', url(id, '/kv/greeting?consistency=quorum'));
    assert.equal(get.status, 200);
    assert.equal(get.body, 'hello');
    assert.match(String(get.headers['x-converge-version']), /^\d+\.\d+@n1$/);
  }
});

test('with one node stopped: one and quorum succeed, all answers 503 naming it; hints reach it after restart', async () => {
  await cluster.stop('n3');
  try {
    assert.equal((await http('PUT', url('n1', '/kv/a?consistency=one'), '1')).status, 200);
    assert.equal((await http('PUT', url('n1', '/kv/b?consistency=quorum'), '2')).status, 200);
    const all = await http('PUT', url('n1', '/kv/c?consistency=all'), '3');
    assert.equal(all.status, 503);
    const err = (
      all.json as {
        error: { code: string; message: string; details: { acknowledged: string[]; unreachable: string[] } };
      }
    ).error;
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, /wrote to 2 of 3 replicas \(all needs 3\); unreachable: n3/);
    assert.deepEqual(err.details.unreachable, ['n3']);
    assert.equal(
      (await http('GET', url('n2', '/kv/c?consistency=one'))).body,
      '3',
      'the replicas that took it keep it',
    );
    assert.equal((await http('GET', url('n1', '/kv/a?consistency=all'))).status, 503);
  } finally {
    await cluster.start('n3');
  }
  for (const key of ['a', 'b', 'c']) {
    await eventually(
      async () => (await http('GET', url('n3', `/kv/${key}?consistency=one`))).status === 200,
      15_000,
      `hint for ${key} to reach n3`,
    );
  }
  await eventually(
    () => [...cluster.running.values()].every((r) => r.ctx.node.status().hints.pending === 0),
    5000,
    'hint stores to drain',
  );
});

test('bad inputs get their documented errors, nothing is applied, and the node keeps serving', async () => {
  const n1 = cluster.node('n1').ctx;
  const keysBefore = n1.node.status().keys;
  const cases: Array<[string, string, string | Uint8Array | undefined, number, string]> = [
    ['PUT', `/kv/${'k'.repeat(1025)}`, 'v', 400, 'KEY_TOO_LONG'],
    ['PUT', '/kv/big', new Uint8Array(1024 * 1024 + 1), 413, 'VALUE_TOO_LARGE'],
    ['PUT', '/kv/huge', new Uint8Array(3 * 1024 * 1024), 413, 'BODY_TOO_LARGE'],
    ['PUT', '/kv/x?consistency=most', 'v', 400, 'CONSISTENCY_INVALID'],
    ['GET', '/kv/%E0%A4%A', undefined, 400, 'KEY_INVALID'],
    ['GET', '/kv/never-written', undefined, 404, 'NOT_FOUND'],
    ['GET', '/no/such/route', undefined, 404, 'NOT_FOUND'],
    ['POST', '/internal/replicate', 'not msgpack at all', 400, 'PROTOCOL_INVALID'],
    ['POST', '/internal/ae/msg', new Uint8Array([9, 1, 2]), 403, 'FORBIDDEN'],
    ['POST', '/internal/ae/msg#from-n2', new Uint8Array([9, 1, 2]), 400, 'PROTOCOL_VERSION'],
    ['POST', '/internal/ae/msg#from-n2', new Uint8Array([1, 1, 18, 4]), 400, 'PROTOCOL_INVALID'],
  ];
  for (const [method, target, body, status, code] of cases) {
    const [path, fromPeer] = target.split('#from-') as [string, string | undefined];
    const res = await http(
      method as 'GET',
      url('n1', path),
      body,
      fromPeer === undefined ? {} : { 'x-converge-from': fromPeer },
    );
    assert.equal(res.status, status, `${method} ${path.slice(0, 40)}: ${res.body.slice(0, 200)}`);
    assert.equal(
      (res.json as { error: { code: string } }).error.code,
      code,
      `${method} ${path.slice(0, 40)}`,
    );
    assert.doesNotMatch(res.body, /at .*\.ts:\d+/, 'no stack trace');
  }
  assert.equal(n1.node.status().keys, keysBefore, 'nothing applied');
  assert.equal((await http('PUT', url('n1', '/kv/still-serving'), 'yes')).status, 200);
});

test('the command line: put, get, del and status with --json against the running cluster', async () => {
  const node = ['--node', cluster.url('n2')];
  const put = await cli(['put', 'cli-key', 'cli-value', ...node, '--consistency', 'all', '--json']);
  assert.equal(put.code, 0, put.stderr);
  assert.deepEqual((JSON.parse(put.stdout) as { acknowledged: string[] }).acknowledged.sort(), [
    'n1',
    'n2',
    'n3',
  ]);
  const get = await cli(['get', 'cli-key', ...node, '--json']);
  assert.equal((JSON.parse(get.stdout) as { value: string }).value, 'cli-value');
  const piped = await cli(['put', 'stdin-key', '-', ...node], 'from stdin');
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(
    (await cli(['get', 'stdin-key', ...node])).stdout,
    'from stdin',
    'the value as it is, no newline added',
  );
  assert.equal((await cli(['del', 'cli-key', ...node, '--json'])).code, 0);
  const gone = await cli(['get', 'cli-key', ...node]);
  assert.equal(gone.code, 1);
  assert.match(
    gone.stderr,
    /^converge: key cli-key deleted \(version \S+\) on the replicas that answered \(n\d, n\d\) \(NOT_FOUND\)\n$/,
  );
  const status = await cli(['status', ...node, '--json']);
  const parsed = JSON.parse(status.stdout) as { nodes: Array<{ id: string; reachable: boolean }> };
  assert.deepEqual(
    parsed.nodes.map((n) => [n.id, n.reachable]),
    [
      ['n1', true],
      ['n2', true],
      ['n3', true],
    ],
  );
  const bad = await cli(['get', 'x', '--node', cluster.url('n1'), '--consistency', 'sometimes']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^converge: consistency must be one of one, quorum, all/);
});
