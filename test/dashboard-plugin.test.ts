// The dashboard plugin's HTTP surface against a stand-in cluster: the page and its assets, the cluster view
// with unreachable peers, digest levels and their limit, the anti-entropy proxy, and the demo routes (404
// outside demo mode, validated inside).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import type { ClusterDigestView, ClusterView, DigestLevelView } from '../src/server/dashboard/index.js';
import { FakeCluster } from './dashboard-fake-cluster.js';

async function call(url: string, method: 'GET' | 'POST' = 'GET', body?: unknown) {
  const res = await request(url, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    type: String(res.headers['content-type']),
    text,
    json: () => JSON.parse(text) as unknown,
  };
}

describe('dashboard plugin in demo mode', () => {
  const cluster = new FakeCluster();
  let base = '';
  before(async () => {
    await cluster.start(true);
    base = cluster.nodes[0]!.url;
    cluster.write(50, 'n1');
  });
  after(() => cluster.close());

  test('serves the page and its bundled assets, with no external URL', async () => {
    const page = await call(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.text, /\/assets\/app\.js\?v=/);
    const js = await call(`${base}/assets/app.js`);
    const css = await call(`${base}/assets/app.css`);
    assert.equal(js.status, 200);
    assert.equal(css.status, 200);
    for (const text of [page.text, js.text, css.text])
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org)/);
  });

  test('GET /cluster lists every node, and marks a stopped one unreachable', async () => {
    let view = (await call(`${base}/cluster`)).json() as ClusterView;
    assert.equal(view.self, 'n1');
    assert.deepEqual(
      view.nodes.map((n) => [n.id, n.reachable]),
      [
        ['n1', true],
        ['n2', true],
        ['n3', true],
      ],
    );
    assert.equal(view.nodes[1]!.status?.keys, 50);
    assert.notEqual(view.demo, null);
    const stopped = await call(`${base}/demo/stop`, 'POST', { node: 'n3' });
    assert.equal(stopped.status, 200);
    view = (await call(`${base}/cluster`)).json() as ClusterView;
    assert.equal(view.nodes[2]!.reachable, false);
    assert.deepEqual(view.demo?.stopped, ['n3']);
    await call(`${base}/demo/start`, 'POST', { node: 'n3' });
  });

  test('GET /digest/level answers 2^L hashes and refuses levels over the limit', async () => {
    const ok = (await call(`${base}/digest/level?level=4`)).json() as DigestLevelView;
    assert.equal(ok.hashes.length, 16 * 16);
    assert.equal(
      ok.counts.reduce((a, b) => a + b, 0),
      50,
    );
    for (const bad of ['11', 'x', '-1', '']) {
      const res = await call(`${base}/digest/level?level=${bad}`);
      assert.equal(res.status, 400, `level=${bad}`);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'LIMIT_EXCEEDED');
    }
  });

  test('GET /cluster/digest compares replicas: an isolated node misses a burst', async () => {
    await call(`${base}/demo/isolate`, 'POST', { node: 'n3' });
    const burst = await call(`${base}/demo/write-burst`, 'POST', { count: 7, node: 'n1' });
    assert.equal((burst.json() as { written: number }).written, 7);
    const view = (await call(`${base}/cluster/digest?level=6`)).json() as ClusterDigestView;
    const [a, b, c] = view.nodes.map((n) => n.digest!);
    assert.equal(a!.root, b!.root);
    assert.notEqual(a!.root, c!.root);
    await call(`${base}/demo/heal`, 'POST', {});
  });

  test('the anti-entropy proxy reaches peers and refuses unknown nodes and actions', async () => {
    assert.equal((await call(`${base}/cluster/nodes/n2/antientropy/pause`, 'POST')).status, 200);
    assert.equal(cluster.node('n2').paused, true);
    assert.equal((await call(`${base}/cluster/nodes/n1/antientropy/pause`, 'POST')).status, 200);
    assert.equal(cluster.node('n1').paused, true);
    assert.equal((await call(`${base}/cluster/nodes/n9/antientropy/run`, 'POST')).status, 404);
    cluster.runAnswerDelayMs = 60_000;
    const slow = await call(`${base}/cluster/nodes/n2/antientropy/run`, 'POST');
    cluster.runAnswerDelayMs = 0;
    assert.equal(slow.status, 202, 'a run that outlasts aeAnswerWaitMs is accepted, not timed out');
    assert.equal((await call(`${base}/cluster/nodes/n2/antientropy/explode`, 'POST')).status, 404);
  });

  test('demo routes validate their input', async () => {
    assert.equal((await call(`${base}/demo/isolate`, 'POST', {})).status, 400);
    const malformed = await request(`${base}/demo/isolate`, {
      method: 'POST',
      body: '{"node":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(malformed.statusCode, 400);
    await malformed.body.dump();
    assert.equal((await call(`${base}/demo/isolate`, 'POST', { node: 'n9' })).status, 404);
    assert.equal((await call(`${base}/demo/write-burst`, 'POST', { count: 1e9 })).status, 400);
    assert.equal(
      (await call(`${base}/demo/mechanism`, 'POST', { mechanism: 'magic', enabled: true })).status,
      400,
    );
    const m = await call(`${base}/demo/mechanism`, 'POST', { node: 'n2', mechanism: 'hints', enabled: true });
    assert.equal(m.status, 200);
    assert.equal(cluster.node('n2').mechanisms.hints, true);
  });
});

describe('dashboard plugin outside demo mode', () => {
  const cluster = new FakeCluster(['a', 'b']);
  before(() => cluster.start(false));
  after(() => cluster.close());

  test('every /demo route answers 404 and /cluster says demo is null', async () => {
    const base = cluster.nodes[0]!.url;
    for (const path of ['isolate', 'heal', 'stop', 'start', 'write-burst', 'mechanism']) {
      const res = await call(`${base}/demo/${path}`, 'POST', { node: 'b' });
      assert.equal(res.status, 404, path);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'NOT_FOUND');
    }
    const view = (await call(`${base}/cluster`)).json() as ClusterView;
    assert.equal(view.demo, null);
    assert.equal(
      view.nodes[0]!.antiEntropy?.intervalMs,
      30_000,
      'own anti-entropy read through GET /antientropy',
    );
  });
});
