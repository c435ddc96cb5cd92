// The TypeScript client (src/client) against real nodes, and against small HTTP servers that misbehave in one
// way each: typed errors with the node's code and details, its timeout, and the retry rule (reads, and writes
// only where the node says nothing was applied). The example in docs/client.md runs as written.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { Client, ConvergeClientError } from '../src/client/index.js';
import { startCluster } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;
let cluster: LocalCluster;

before(async () => {
  cluster = await startCluster({
    settings: { 'anti-entropy': false, hints: false, 'request-timeout': '500ms' },
  });
});
after(async () => {
  await cluster.close();
});

/** A server answering each request with `handler`; counts the requests it got. */
async function fakeNode(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<{ url: string; count: () => number; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    n += 1;
    req.resume();
    req.on('end', () => handler(req, res, n));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => n, server };
}

function jsonError(
  res: ServerResponse,
  status: number,
  code: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { code, message: `${code} from the fake node` } }));
}

async function rejection(p: Promise<unknown>): Promise<ConvergeClientError> {
  const err = await p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConvergeClientError, `a ConvergeClientError, got ${String(err)}`);
  return err;
}

test('the example in docs/client.md runs as written against a real node', async () => {
  const doc = readFileSync(join(root, 'docs/client.md'), 'utf8');
  const block = /<!-- client-example:start -->\n```ts\n([\s\S]*?)```\n<!-- client-example:end -->/.exec(
    doc,
  )?.[1];
  assert.ok(block !== undefined, 'docs/client.md has the marked example');
  // Inside the package, so that `converge/client` resolves through the package's own exports map.
  const dir = join(root, 'tmp', `client-example-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'example.ts'), block);
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'example.ts')], {
        cwd: root,
        env: { ...process.env, CONVERGE_URL: cluster.url('n1') },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split('\n');
    assert.match(lines[0]!, /^written: version \d+\.\d+@n1, acknowledged by n\d, n\d/);
    assert.equal(lines[1], 'read: hello');
    assert.equal(lines[2], 'after delete: gone');
    assert.match(lines[3]!, /^error: 404 NOT_FOUND, answered by n1, n[23]$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('values are bytes both ways, and a node refusal carries its code, status and details', async () => {
  const client = new Client({ url: cluster.url('n2') });
  try {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x01, 0x0a]);
    await client.put('raw', bytes, { consistency: 'all' });
    assert.deepEqual(new Uint8Array((await client.get('raw', { consistency: 'one' })).value), bytes);
    const missing = await rejection(client.get('absent', { consistency: 'all' }));
    assert.equal(missing.code, 'NOT_FOUND');
    assert.equal(missing.status, 404);
    assert.equal(missing.applied, 'no');
    assert.deepEqual(missing.details?.replied, ['n1', 'n2', 'n3']);
    assert.match(missing.message, /^key absent not found on the replicas that answered \(n1, n2, n3\)$/);
    const bad = await rejection(client.put('k', 'v', { consistency: 'sometimes' as 'one' }));
    assert.equal(bad.code, 'CONSISTENCY_INVALID');
    assert.equal(bad.status, 400);
  } finally {
    await client.close();
  }
});

test('a write short of its consistency level is a 503 whose details say who kept it; it is not sent again', async () => {
  await cluster.stop('n3');
  const client = new Client({ url: cluster.url('n1') });
  try {
    const before = cluster.node('n1').ctx.node.status().keys;
    const err = await rejection(client.put('at-all', 'v', { consistency: 'all' }));
    assert.equal(err.code, 'UNAVAILABLE');
    assert.equal(err.status, 503);
    assert.equal(err.applied, 'unknown');
    assert.deepEqual(err.details?.acknowledged, ['n1', 'n2']);
    assert.deepEqual(err.details?.unreachable, ['n3']);
    assert.equal(cluster.node('n1').ctx.node.status().keys, before + 1, 'the replicas that took it keep it');
    const found = await client.find('at-all', { consistency: 'quorum' });
    assert.equal(new TextDecoder().decode(found?.value), 'v');
  } finally {
    await client.close();
    await cluster.start('n3');
  }
});

test('no node at the URL: NODE_UNREACHABLE saying what to check, and that nothing was applied', async () => {
  const fake = await fakeNode(() => {});
  const url = fake.url;
  await new Promise<void>((resolve) => fake.server.close(() => resolve()));
  const client = new Client({ url, retries: 2, retryDelayMs: 1 });
  const err = await rejection(client.put('k', 'v'));
  assert.equal(err.code, 'NODE_UNREACHABLE');
  assert.equal(err.status, undefined);
  assert.equal(err.applied, 'no');
  assert.equal(err.details?.cause, 'ECONNREFUSED');
  assert.equal(
    err.message,
    `cannot reach ${url}: connection refused (ECONNREFUSED): is a converge node running at ${url}?`,
  );
  await client.close();
});

test('retries: a read is asked again after a 503, a write only after OVERLOADED (nothing applied)', async () => {
  const flaky = await fakeNode((req, res, n) => {
    if (n === 1)
      return jsonError(res, 503, req.method === 'GET' ? 'UNAVAILABLE' : 'OVERLOADED', { 'retry-after': '0' });
    if (req.method === 'GET') {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-converge-version': '1.0@n1',
        'x-converge-replied': 'n1',
      });
      return res.end('ok');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version: '1.0@n1', acknowledged: ['n1'], unreachable: [], hinted: [] }));
  });
  const client = new Client({ url: flaky.url, retryDelayMs: 1 });
  assert.equal(new TextDecoder().decode((await client.get('k')).value), 'ok');
  assert.equal(flaky.count(), 2, 'the read was sent twice');
  const unavailable = await fakeNode((_req, res) => jsonError(res, 503, 'UNAVAILABLE'));
  const writer = new Client({ url: unavailable.url, retryDelayMs: 1 });
  const err = await rejection(writer.put('k', 'v'));
  assert.equal(err.code, 'UNAVAILABLE');
  assert.equal(unavailable.count(), 1, 'a write that may have been applied is not sent again');
  const reads = new Client({ url: unavailable.url, retryDelayMs: 1, retries: 3 });
  await rejection(reads.get('k'));
  assert.equal(unavailable.count(), 1 + 4, 'a read is tried 1 + retries times');
  const overloaded = await fakeNode((_req, res, n) => {
    if (n <= 2) return jsonError(res, 503, 'OVERLOADED', { 'retry-after': '0' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version: '1.0@n1', acknowledged: ['n1'], unreachable: [], hinted: [] }));
  });
  const patient = new Client({ url: overloaded.url, retryDelayMs: 1 });
  assert.equal((await patient.put('k', 'v')).version, '1.0@n1');
  assert.equal(overloaded.count(), 3, 'OVERLOADED says nothing was applied: the write went again');
  await Promise.all([client.close(), writer.close(), reads.close(), patient.close()]);
});

test('something that is not a converge node answers: NOT_A_NODE with what it sent', async () => {
  const web = await fakeNode((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html><body>Welcome</body></html>');
  });
  const client = new Client({ url: web.url, retryDelayMs: 1 });
  for (const call of [client.status(), client.get('k'), client.put('k', 'v')]) {
    const err = await rejection(call);
    assert.equal(err.code, 'NOT_A_NODE');
    assert.match(
      err.message,
      /answered HTTP 200 \(text\/html\) that is not a converge node's answer: is it the URL of a converge node\? \(it began "<!doctype html>/,
    );
  }
  assert.equal(web.count(), 3, 'NOT_A_NODE is not retried');
  await client.close();
});

test('a node that never answers: the client gives up after its timeoutMs with TIMEOUT, and does not try again', async () => {
  const silent = await fakeNode(() => {});
  const client = new Client({ url: silent.url, timeoutMs: 300, retryDelayMs: 1 });
  const started = Date.now();
  const err = await rejection(client.get('k'));
  const tookMs = Date.now() - started;
  assert.equal(err.code, 'TIMEOUT');
  assert.equal(err.status, undefined);
  assert.match(err.message, /did not answer within 300 ms/);
  assert.ok(tookMs >= 290 && tookMs < 2000, `gave up after ${tookMs} ms`);
  assert.equal(silent.count(), 1);
  // Destroying the silent server's pending sockets lets it close.
  silent.server.closeAllConnections();
  await client.close();
});

test('a bearer token is sent, and a bad one is refused before any request', async () => {
  let seen: string | undefined;
  const fake = await fakeNode((req, res) => {
    seen = req.headers.authorization;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"paused":true}');
  });
  const client = new Client({ url: fake.url, token: 'abc123' });
  assert.deepEqual(await client.pauseAntiEntropy(), { paused: true });
  assert.equal(seen, 'Bearer abc123');
  await client.close();
  assert.throws(() => new Client({ url: fake.url, token: 'two words' }), /the client token must be one word/);
  assert.throws(() => new Client({ url: 'ftp://x' }), /is not an http:\/\/ or https:\/\/ URL/);
});
