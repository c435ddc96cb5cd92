import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { resolveConfig } from '../config/config.js';
import { connectTimeoutMsDefault, HttpTransport, outgoingAddress, poolOptions } from './http-transport.js';

test('outgoing connections bind to the listen address only when it names one IP', () => {
  assert.equal(outgoingAddress('127.0.15.11'), '127.0.15.11');
  assert.equal(outgoingAddress('::1'), '::1');
  assert.equal(outgoingAddress('[::1]'), '::1');
  assert.equal(outgoingAddress('0.0.0.0'), undefined);
  assert.equal(outgoingAddress('::'), undefined);
  assert.equal(outgoingAddress('localhost'), undefined);
  const base = { id: 'a', data: '/d', listen: '127.0.15.11:7101' };
  assert.equal(resolveConfig(base).bindOutgoing, true);
  assert.equal(resolveConfig(base, { 'bind-outgoing': false }).bindOutgoing, false);
  assert.equal(resolveConfig(base, { 'storage-retry': '250ms' }).storageRetryMs, 250);
});

test('pool options: a connect timeout always, the local address when given, TLS beside them', () => {
  const peers = new Map<string, string>();
  const plain = poolOptions({ self: 'a', peers });
  assert.deepEqual(plain.connect, { timeout: connectTimeoutMsDefault });
  assert.equal(plain.localAddress, undefined);
  const bound = poolOptions({
    self: 'a',
    peers,
    connectTimeoutMs: 700,
    localAddress: '127.0.15.11',
    tls: { ca: 'CA' },
  });
  assert.deepEqual(bound.connect, { timeout: 700, ca: 'CA' });
  assert.equal(bound.localAddress, '127.0.15.11');
  assert.ok((bound.headersTimeout ?? 0) > 0 && (bound.bodyTimeout ?? 0) > 0, 'undici waits are bounded too');
});

test('a call leaves from the bound address and ends at its timeout even while the peer never answers', async () => {
  const seen: string[] = [];
  const server = createServer((req) => {
    seen.push(req.socket.remoteAddress ?? '');
    // Never answers: the call must end at its own timeout.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const transport = new HttpTransport({
    self: 'a',
    peers: new Map([['b', `http://127.0.0.1:${port}`]]),
    localAddress: '127.0.0.7',
    connectionsPerPeerMax: 1,
  });
  try {
    const t0 = Date.now();
    // Two calls on one connection: the second waits in undici's queue, and still ends at its timeout.
    const results = await Promise.allSettled([
      transport.call('b', { route: 'ping', body: new Uint8Array(0), timeoutMs: 300 }),
      transport.call('b', { route: 'ping', body: new Uint8Array(0), timeoutMs: 300 }),
    ]);
    const elapsedMs = Date.now() - t0;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'TIMEOUT');
    }
    assert.ok(elapsedMs < 1000, `both calls ended after ${elapsedMs} ms`);
    // The queued call may or may not reach the server before its own abort: whichever did left from the
    // address.
    assert.ok(seen.length >= 1, 'the peer saw the call');
    for (const from of seen) assert.equal(from, '127.0.0.7', 'every connection left from the bound address');
  } finally {
    await transport.close();
    server.closeAllConnections();
    server.close();
  }
});
