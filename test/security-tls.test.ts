// TLS on real nodes: three `converge serve` processes configured by flags, environment and config file serve
// HTTPS with openssl-made certificates and verify each other against the CA; the CLI trusts the CA through
// --ca or CONVERGE_TLS_CA. Clients speaking plain HTTP or trusting another CA are refused, and so are peers
// whose certificates do not chain to the configured CA.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { resolveConfig } from '../src/config/config.js';
import { loadTlsMaterial } from '../src/server/tls.js';
import { makeCertificates, type TestCertificates } from './certs.js';
import { eventually, http, killed, randomBasePort, startCluster } from './helpers.js';

let certs: TestCertificates;
let rogue: TestCertificates;
let dataRoot: string;
const children: ChildProcess[] = [];

before(() => {
  certs = makeCertificates('converge-test');
  rogue = makeCertificates('rogue');
  dataRoot = mkdtempSync(join(tmpdir(), 'converge-tls-'));
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map(killed));
  for (const dir of [dataRoot, certs.dir, rogue.dir]) rmSync(dir, { recursive: true, force: true });
});

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/converge.js', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function serve(args: string[], env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, ['bin/converge.js', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await eventually(
    () => out.includes('listening on') || child.exitCode !== null,
    20_000,
    'the node to listen',
  );
  assert.equal(child.exitCode, null, `converge serve exited: ${out}`);
  assert.match(out, /listening on https:\/\//, 'the node says it serves https');
}

test('a TLS cluster of converge serve processes replicates over https; the CLI trusts the CA with --ca or CONVERGE_TLS_CA', async () => {
  const base = randomBasePort();
  const url = (i: number): string => `https://127.0.0.1:${base + i}`;
  const peers = [1, 2, 3].map((i) => `n${i}=${url(i)}`).join(',');
  const common = (i: number): string[] => [
    '--id',
    `n${i}`,
    '--listen',
    `127.0.0.1:${base + i}`,
    '--data',
    join(dataRoot, `n${i}`),
    '--peers',
    peers,
  ];
  const secret = { CONVERGE_CLUSTER_SECRET: 'a'.repeat(64) };
  // n1 by flags, n2 by environment, n3 by config file: the three ways an option reaches a node.
  await serve(
    [...common(1), '--tls-cert', certs.nodeCert, '--tls-key', certs.nodeKey, '--tls-ca', certs.caCert],
    secret,
  );
  await serve(common(2), {
    ...secret,
    CONVERGE_TLS_CERT: certs.nodeCert,
    CONVERGE_TLS_KEY: certs.nodeKey,
    CONVERGE_TLS_CA: certs.caCert,
  });
  const configFile = join(dataRoot, 'n3.json');
  writeFileSync(
    configFile,
    JSON.stringify({ 'tls-cert': certs.nodeCert, 'tls-key': certs.nodeKey, 'tls-ca': certs.caCert }),
  );
  await serve([...common(3), '--config', configFile], secret);

  const put = await run([
    'put',
    'greeting',
    'hello',
    '--node',
    url(1),
    '--consistency',
    'all',
    '--ca',
    certs.caCert,
    '--json',
  ]);
  assert.equal(put.code, 0, put.stderr);
  assert.deepEqual(
    (JSON.parse(put.stdout) as { acknowledged: string[] }).acknowledged.sort(),
    ['n1', 'n2', 'n3'],
    'every peer took the write over https',
  );
  const [get, status, untrusted, otherCa, plain] = await Promise.all([
    run(['get', 'greeting', '--node', url(3), '--consistency', 'all'], { CONVERGE_TLS_CA: certs.caCert }),
    run(['status', '--node', url(2), '--json'], { CONVERGE_TLS_CA: certs.caCert }),
    run(['get', 'greeting', '--node', url(1)], { CONVERGE_TLS_CA: '' }),
    run(['get', 'greeting', '--node', url(1), '--ca', rogue.caCert]),
    run(['get', 'greeting', '--node', url(1).replace('https:', 'http:'), '--ca', certs.caCert]),
  ]);
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout.trim(), 'hello');
  assert.equal(status.code, 0, status.stderr);
  assert.equal(
    (JSON.parse(status.stdout) as { converged: boolean }).converged,
    true,
    'status reaches every node over https',
  );

  assert.equal(untrusted.code, 1);
  assert.match(
    untrusted.stderr,
    /cannot verify the TLS certificate of https:\/\/127\.0\.0\.1:\d+ \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass --ca FILE/,
  );
  assert.equal(otherCa.code, 1);
  assert.match(otherCa.stderr, /cannot verify the TLS certificate/);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /if the node serves TLS, use an https:\/\/ URL/);
  await assert.rejects(
    http('GET', `${url(1).replace('https:', 'http:')}/status`),
    /other side closed|ECONNRESET/,
    'plain HTTP gets no answer',
  );
});

test('peers whose certificates do not chain to --tls-ca are refused: writes that need them fail', async () => {
  // Every node presents a certificate from the rogue CA but trusts only the real one.
  const cluster = await startCluster({
    nodes: 2,
    settings: {
      'tls-cert': rogue.nodeCert,
      'tls-key': rogue.nodeKey,
      'tls-ca': certs.caCert,
      hints: false,
      'anti-entropy': false,
    },
  });
  try {
    const res = await http('PUT', `${cluster.url('n1').replace('https:', 'http:')}/kv/k`, 'v').catch(
      (err: Error) => err,
    );
    assert.ok(res instanceof Error, 'plain HTTP is not served');
    const agent = new Agent({ connect: { ca: readFileSync(rogue.caCert) } });
    const put = await request(`${cluster.url('n1')}/kv/k?consistency=all`, {
      method: 'PUT',
      body: 'v',
      dispatcher: agent,
    });
    const body = (await put.body.json()) as {
      error: { code: string; message: string; details: { unreachable: string[] } };
    };
    assert.equal(put.statusCode, 503, JSON.stringify(body));
    assert.equal(body.error.code, 'UNAVAILABLE');
    assert.deepEqual(
      body.error.details.unreachable,
      ['n2'],
      'n1 refused n2 because its certificate is not from the CA',
    );
    await agent.close();
  } finally {
    await cluster.close();
  }
});

test('TLS configuration errors name the option', () => {
  const base = { id: 'a', data: '/d' };
  assert.throws(
    () => resolveConfig({ ...base, 'tls-cert': certs.nodeCert }),
    /--tls-cert and --tls-key go together \(only --tls-cert is set\)/,
  );
  assert.throws(
    () =>
      resolveConfig({
        ...base,
        'tls-cert': certs.nodeCert,
        'tls-key': certs.nodeKey,
        peers: 'b=http://127.0.0.1:2',
      }),
    /--peers: peer b is http:\/\/127\.0\.0\.1:2, but this node serves TLS \(--tls-cert\): list peers as https:\/\//,
  );
  const config = (over: Record<string, string>) =>
    resolveConfig({
      ...base,
      'tls-cert': certs.nodeCert,
      'tls-key': certs.nodeKey,
      'tls-ca': certs.caCert,
      ...over,
    }).tls;
  assert.throws(
    () => loadTlsMaterial(config({ 'tls-ca': '/no/such/ca.pem' })),
    /--tls-ca \/no\/such\/ca\.pem: ENOENT/,
  );
  assert.throws(
    () => loadTlsMaterial(config({ 'tls-cert': certs.nodeKey.replace('node.key', 'node.ext') })),
    /--tls-cert .*node\.ext: not a PEM file/,
  );
  assert.throws(
    () => loadTlsMaterial(config({ 'tls-key': rogue.nodeKey })),
    /--tls-cert .* \/ --tls-key .*: .*key values mismatch/,
  );
  assert.ok(loadTlsMaterial(config({})).server !== undefined);
});
