// Cluster authentication on real nodes: with a cluster secret, every request under /internal/ without valid
// credentials gets 401 and changes nothing, whatever its path; signed traffic between the nodes still flows.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { encodeRecords } from '../src/cluster/codec.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { clusterSigner, loadClusterSecret } from '../src/server/auth/cluster-auth.js';
import { converged, eventually, http, startCluster } from './helpers.js';

const secret = randomBytes(32);
let cluster: LocalCluster;

before(async () => {
  cluster = await startCluster({
    clusterSecret: secret,
    settings: { hints: false, 'read-repair': false, 'ae-interval': '200ms' },
  });
});
after(async () => cluster.close());

const record = makeRecord(
  keyToBytes('forged'),
  { ms: Date.now(), counter: 0, node: 'n2' },
  keyToBytes('evil'),
);
const body = encodeRecords([record]);

test('signed traffic between the nodes works: writes replicate and anti-entropy runs', async () => {
  const put = await http('PUT', `${cluster.url('n1')}/kv/k?consistency=all`, 'v');
  assert.equal(put.status, 200, put.body);
  await eventually(() => converged(cluster), 10_000, 'equal digests');
  const sessions = () => cluster.node('n1').ctx.antiEntropy!.status().history;
  await eventually(
    () => sessions().some((h) => h.result === 'converged' || h.result === 'repaired'),
    10_000,
    'a signed anti-entropy session',
  );
  // (Sessions that ran while a peer was still starting may have failed; none may fail on authentication.)
  assert.ok(
    !sessions().some((h) => /authentication/.test(h.error ?? '')),
    'no session failed for lack of credentials',
  );
});

test('every /internal/ request without valid credentials gets 401 and changes nothing', async () => {
  const url = cluster.url('n1');
  const root = cluster.node('n1').ctx.replica.digest.rootHex();
  const sign = clusterSigner('n2', secret);
  const wrong = clusterSigner('n2', randomBytes(32));
  const stale = clusterSigner('n2', secret, () => Date.now() - 10 * 60_000);
  const replayed = sign('POST', '/internal/replicate', body);
  const cases: Array<[string, string, Record<string, string>]> = [
    ['no credentials', '/internal/replicate', {}],
    ['no credentials, unknown route', '/internal/no/such/route', {}],
    ['no credentials, anti-entropy', '/internal/ae/msg', { 'x-converge-from': 'n2' }],
    ['wrong secret', '/internal/replicate', wrong('POST', '/internal/replicate', body)],
    ['stale timestamp', '/internal/replicate', stale('POST', '/internal/replicate', body)],
    ['signed for another path', '/internal/hint', sign('POST', '/internal/replicate', body)],
    [
      'body swapped after signing',
      '/internal/replicate',
      sign('POST', '/internal/replicate', new Uint8Array([1, 2, 3])),
    ],
  ];
  for (const [what, path, headers] of cases) {
    const res = await http('POST', `${url}${path}`, body, headers);
    assert.equal(res.status, 401, `${what}: ${res.body}`);
    assert.equal((res.json as { error: { code: string } }).error.code, 'UNAUTHORIZED', what);
  }
  const first = await http('POST', `${url}/internal/replicate`, body, replayed);
  assert.equal(first.status, 200, 'a correctly signed request is accepted');
  const again = await http('POST', `${url}/internal/replicate`, body, replayed);
  assert.equal(again.status, 401, 'the same signed request replayed is refused');
  assert.match((again.json as { error: { message: string } }).error.message, /replayed/);
  assert.notEqual(
    cluster.node('n1').ctx.replica.digest.rootHex(),
    root,
    'only the one valid request changed anything',
  );
  assert.equal((await http('GET', `${url}/kv/k?consistency=one`)).status, 200, 'the node keeps serving');
});

test('the cluster secret comes from the environment or a file, and must be long enough', () => {
  assert.equal(loadClusterSecret({}, undefined), undefined);
  assert.equal(loadClusterSecret({ CONVERGE_CLUSTER_SECRET: 'x'.repeat(32) }, undefined)?.length, 32);
  assert.throws(
    () => loadClusterSecret({ CONVERGE_CLUSTER_SECRET: 'short' }, undefined),
    /at least 32 bytes/,
  );
  assert.throws(() => loadClusterSecret({}, '/no/such/file'), /--cluster-secret-file \/no\/such\/file/);
});
