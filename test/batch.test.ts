// The batch API over real HTTP on 127.0.0.1: many keys in one request at one consistency level, a result per
// key, limits with their codes, a bad batch refused whole (nothing applied anywhere), OVERLOADED with
// Retry-After before anything is applied, and `converge put --file` loading a file with its summary.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { Client, ConvergeClientError } from '../src/client/index.js';
import { keyToBytes } from '../src/core/record.js';
import { cli, eventually, http, startCluster } from './helpers.js';

let cluster: LocalCluster;
const ids = ['n1', 'n2', 'n3'];
const url = (id: string, path: string): string => `${cluster.url(id)}${path}`;
const ndjson = (lines: unknown[]): string =>
  lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
const holds = (c: LocalCluster, id: string, key: string): boolean =>
  c.node(id).ctx.replica.get(keyToBytes(key)) !== undefined;

interface BatchAnswer {
  succeeded: number;
  failed: number;
  results: Array<{
    key: string;
    op: string;
    ok: boolean;
    version: string;
    acknowledged?: string[];
    error?: { code: string };
  }>;
}

before(async () => {
  cluster = await startCluster({
    settings: {
      'anti-entropy': false,
      'request-timeout': '1s',
      'batch-keys-max': '100',
      'batch-bytes-max': '64KiB',
    },
  });
});
after(async () => cluster.close());

test('a batch writes and deletes many keys at one consistency level and answers per key', async () => {
  const put = await http(
    'POST',
    url('n1', '/kv?consistency=all'),
    ndjson([
      ...Array.from({ length: 50 }, (_, i) => ({ key: `b${i}`, value: `v${i}` })),
      { op: 'put', key: 'bin', valueBase64: Buffer.from([0, 1, 2, 255]).toString('base64') },
    ]),
  );
  assert.equal(put.status, 200, put.body);
  const answer = put.json as BatchAnswer;
  assert.equal(answer.succeeded, 51);
  assert.equal(answer.results.length, 51);
  assert.deepEqual(answer.results[0]!.acknowledged?.sort(), ids);
  for (const id of ids) {
    assert.equal((await http('GET', url(id, '/kv/b7?consistency=one'))).body, 'v7');
  }
  const del = await http(
    'POST',
    url('n2', '/kv?consistency=quorum'),
    ndjson([
      { op: 'del', key: 'b7' },
      { key: 'b8', value: 'new' },
    ]),
  );
  assert.equal(del.status, 200, del.body);
  assert.deepEqual(
    (del.json as BatchAnswer).results.map((r) => [r.key, r.op, r.ok]),
    [
      ['b7', 'del', true],
      ['b8', 'put', true],
    ],
  );
  assert.equal((await http('GET', url('n1', '/kv/b7?consistency=quorum'))).status, 404);
  assert.equal((await http('GET', url('n1', '/kv/b8?consistency=quorum'))).body, 'new');
});

test('the TypeScript client writes a batch of strings, bytes and deletes; a bad one raises', async () => {
  const client = new Client({ url: cluster.url('n2'), consistency: 'all' });
  try {
    const answer = await client.batch([
      { key: 'c1', value: 'one' },
      { key: 'c2', value: new Uint8Array([0, 200, 7]) },
      { op: 'del', key: 'b9' },
    ]);
    assert.deepEqual(
      answer.results.map((r) => [r.key, r.ok]),
      [
        ['c1', true],
        ['c2', true],
        ['b9', true],
      ],
    );
    assert.deepEqual([...(await client.get('c2')).value], [0, 200, 7]);
    assert.equal(await client.find('b9'), undefined);
    const err = await client.batch([{ key: '', value: 'x' }]).catch((e: unknown) => e);
    assert.ok(err instanceof ConvergeClientError);
    assert.equal(err.code, 'BATCH_INVALID');
    assert.equal(err.applied, 'no');
  } finally {
    await client.close();
  }
});

test('a bad batch is refused whole with its code: no key of it is applied on any replica', async () => {
  const good = { key: 'never-applied', value: 'x' };
  const cases: Array<[string, string, number, string]> = [
    ['a line that is not JSON', ndjson([good, '{not json']), 400, 'BATCH_INVALID'],
    ['an unknown op', ndjson([good, { op: 'incr', key: 'a' }]), 400, 'BATCH_INVALID'],
    ['a key listed twice', ndjson([good, good]), 400, 'BATCH_INVALID'],
    ['bad base64', ndjson([good, { key: 'b', valueBase64: '***' }]), 400, 'BATCH_INVALID'],
    ['an empty batch', '\n\n', 400, 'BATCH_INVALID'],
    ['a key too long', ndjson([good, { key: 'k'.repeat(1025), value: 'v' }]), 400, 'KEY_TOO_LONG'],
    [
      'too many keys',
      ndjson(Array.from({ length: 101 }, (_, i) => ({ key: `many${i}`, value: 'v' }))),
      413,
      'BATCH_TOO_LARGE',
    ],
    ['too many bytes', ndjson([good, { key: 'big', value: 'x'.repeat(70_000) }]), 413, 'BATCH_TOO_LARGE'],
  ];
  for (const [what, body, status, code] of cases) {
    const res = await http('POST', url('n1', '/kv?consistency=one'), body);
    assert.equal(res.status, status, `${what}: ${res.body}`);
    assert.equal((res.json as { error: { code: string } }).error.code, code, what);
  }
  const badLevel = await http('POST', url('n1', '/kv?consistency=most'), ndjson([good]));
  assert.equal((badLevel.json as { error: { code: string } }).error.code, 'CONSISTENCY_INVALID');
  for (const id of ids) {
    assert.equal(holds(cluster, id, 'never-applied'), false, `${id} holds nothing of a refused batch`);
    assert.equal(holds(cluster, id, 'many0'), false);
  }
});

test('a replica stopped: a batch at all answers 200, each key unavailable, takers keep them', async () => {
  await cluster.stop('n3');
  try {
    const res = await http(
      'POST',
      url('n1', '/kv?consistency=all'),
      ndjson([
        { key: 'x1', value: '1' },
        { key: 'x2', value: '2' },
      ]),
    );
    assert.equal(res.status, 200, res.body);
    const answer = res.json as BatchAnswer;
    assert.equal(answer.failed, 2);
    assert.deepEqual(
      answer.results.map((r) => r.error?.code),
      ['UNAVAILABLE', 'UNAVAILABLE'],
    );
    assert.ok(holds(cluster, 'n2', 'x1'));
  } finally {
    await cluster.start('n3');
  }
});

test('converge put --file loads a file of keys and values in batches and reports what it wrote', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-bulk-'));
  const file = join(dir, 'data.ndjson');
  const lines = Array.from({ length: 250 }, (_, i) =>
    i % 2 === 0 ? JSON.stringify({ key: `f${i}`, value: `fv${i}` }) : `f${i}\tfv${i}`,
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  const r = await cli([
    'put',
    '--file',
    file,
    '--node',
    cluster.url('n1'),
    '--consistency',
    'quorum',
    '--batch-size',
    '60',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { written: number; failed: number; batches: number };
  assert.deepEqual([summary.written, summary.failed, summary.batches], [250, 0, 5]);
  await eventually(
    () => ids.every((id) => holds(cluster, id, 'f249') && holds(cluster, id, 'f1')),
    5000,
    'every replica to hold the file',
  );
  assert.equal((await http('GET', url('n2', '/kv/f3?consistency=quorum'))).body, 'fv3');
  const bad = join(dir, 'bad.ndjson');
  writeFileSync(bad, 'ok\tv\n{"key": 5}\n');
  const refused = await cli(['put', '--file', bad, '--node', cluster.url('n1')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /line 2/);
});

test('past the admission wait a batch is refused OVERLOADED, Retry-After, none of it applied', async () => {
  const busy = await startCluster({
    settings: {
      'anti-entropy': false,
      'replication-queue-records-max': '1',
      'admission-wait-max': '0',
      'batch-keys-max': '500',
    },
  });
  try {
    const batches = Array.from({ length: 6 }, (_, b) =>
      ndjson(Array.from({ length: 500 }, (_, i) => ({ key: `o${b}-${i}`, value: 'v' }))),
    );
    const answers = await Promise.all(
      batches.map((body) => http('POST', `${busy.url('n1')}/kv?consistency=one`, body)),
    );
    const refused = answers.map((a, b) => [a, b] as const).filter(([a]) => a.status === 503);
    assert.ok(refused.length > 0, `some batch met a full queue: ${answers.map((a) => a.status).join(' ')}`);
    for (const [a, b] of refused) {
      assert.equal((a.json as { error: { code: string } }).error.code, 'OVERLOADED');
      assert.equal(a.headers['retry-after'], '1');
      for (const id of ids)
        assert.equal(holds(busy, id, `o${b}-0`), false, `${id} holds nothing of refused batch ${b}`);
    }
    for (const [b, a] of answers.entries()) {
      if (a.status !== 200) continue;
      await eventually(
        () => ids.every((id) => holds(busy, id, `o${b}-499`)),
        5000,
        `batch ${b} on every replica`,
      );
    }
  } finally {
    await busy.close();
  }
});
