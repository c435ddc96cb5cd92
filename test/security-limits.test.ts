// Connection limits and slow clients on a real node: sockets that send their headers or body byte by byte are
// answered 408 and closed once --headers-timeout / --receive-timeout pass, while normal requests keep being
// served; past --connections-max new connections are closed at once, until the slow ones are gone.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { readEnv, resolveConfig } from '../src/config/config.js';
import { eventually, http, startCluster } from './helpers.js';

interface SlowClient {
  readonly socket: Socket;
  readonly openedAt: number;
  closedAt: number | undefined;
  received: string;
}

/** Opens a socket, sends `head`, then one byte of `trickle` every `everyMs` until the node closes it. */
async function slowClient(port: number, head: string, trickle: string, everyMs: number): Promise<SlowClient> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const client: SlowClient = { socket, openedAt: Date.now(), closedAt: undefined, received: '' };
  socket.on('data', (d) => (client.received += d));
  socket.on('error', () => {});
  let i = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(trickle[i++ % trickle.length]!);
  }, everyMs);
  socket.on('close', () => {
    clearInterval(timer);
    client.closedAt = Date.now();
  });
  socket.write(head);
  return client;
}

function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

let slow: LocalCluster;
let small: LocalCluster;
const headersTimeoutMs = 1000;
const receiveTimeoutMs = 2500;

before(async () => {
  const base = { hints: false, 'read-repair': false, 'anti-entropy': false };
  slow = await startCluster({
    nodes: 1,
    settings: {
      ...base,
      'headers-timeout': `${headersTimeoutMs}ms`,
      'receive-timeout': `${receiveTimeoutMs}ms`,
      'connections-max': '200',
    },
  });
  small = await startCluster({
    nodes: 1,
    settings: { ...base, 'headers-timeout': '1500ms', 'connections-max': '8' },
  });
});
after(async () => {
  await slow.close();
  await small.close();
});

test('slow loris: clients trickling headers or bodies get 408 and are dropped; normal requests are served meanwhile', async (t) => {
  const url = slow.url('n1');
  const port = Number(new URL(url).port);
  const root = slow.node('n1').ctx.replica.digest.rootHex();
  const headerSlow = await Promise.all(
    Array.from({ length: 60 }, () =>
      slowClient(port, 'GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'abcdefgh', 40),
    ),
  );
  const bodySlow = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      slowClient(port, `PUT /kv/slow-${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`, 'v', 40),
    ),
  );
  const all = [...headerSlow, ...bodySlow];
  // While all of them hold their connections, normal clients get answers without waiting for the timeouts.
  let served = 0;
  let slowestMs = 0;
  while (headerSlow.some((c) => c.closedAt === undefined)) {
    const t0 = Date.now();
    const res = await http('GET', `${url}/status`);
    assert.equal(res.status, 200, res.body);
    slowestMs = Math.max(slowestMs, Date.now() - t0);
    served++;
  }
  assert.ok(served >= 5, `normal requests were served during the attack (${served})`);
  assert.ok(
    slowestMs < headersTimeoutMs,
    `no normal request waited for the slow ones (slowest ${slowestMs} ms)`,
  );
  await eventually(
    () => all.every((c) => c.closedAt !== undefined),
    receiveTimeoutMs + 5000,
    'the node to drop every slow client',
  );
  const held = (cs: SlowClient[]) => cs.map((c) => c.closedAt! - c.openedAt);
  t.diagnostic(
    `${served} normal requests served during the attack, slowest ${slowestMs} ms; header-slow clients held ${Math.min(...held(headerSlow))}-${Math.max(...held(headerSlow))} ms, body-slow ${Math.min(...held(bodySlow))}-${Math.max(...held(bodySlow))} ms`,
  );
  for (const [clients, limitMs] of [
    [headerSlow, headersTimeoutMs],
    [bodySlow, receiveTimeoutMs],
  ] as const) {
    for (const c of clients) {
      const heldMs = c.closedAt! - c.openedAt;
      assert.ok(
        heldMs >= limitMs - 100 && heldMs <= limitMs + 2000,
        `dropped after ${heldMs} ms (limit ${limitMs} ms)`,
      );
      assert.match(c.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.match(
        c.received,
        /"code":"REQUEST_TIMEOUT","message":"the request arrived too slowly: headers must be complete within headersTimeoutMs 1000/,
      );
    }
  }
  assert.equal(slow.node('n1').ctx.replica.digest.rootHex(), root, 'no slow body was applied');
  const metrics = await http('GET', `${url}/metrics`);
  assert.ok(
    metric(metrics.body, 'converge_http_client_errors_total{code="ERR_HTTP_REQUEST_TIMEOUT"}') >= all.length,
    'timeouts are counted',
  );
  assert.equal(
    (await http('PUT', `${url}/kv/after?consistency=one`, 'v')).status,
    200,
    'the node keeps serving',
  );
});

test('past --connections-max new connections are closed at once; the limit frees itself as idle sockets time out', async () => {
  const url = small.url('n1');
  const port = Number(new URL(url).port);
  const server = small.node('n1').app.server;
  // Eight connections that never send a byte take every slot.
  const idle = await Promise.all(Array.from({ length: 8 }, () => slowClient(port, '', ' ', 3_600_000)));
  await eventually(
    () => new Promise<boolean>((resolve) => server.getConnections((_e, n) => resolve(n >= 8))),
    5000,
    'the node to hold eight connections',
  );
  const refused = await http('GET', `${url}/status`).then(
    (res) => `answered ${res.status}`,
    (err: Error & { code?: string }) => err.code ?? err.message,
  );
  assert.match(refused, /UND_ERR_SOCKET|ECONNRESET/, `a ninth connection is closed at once (${refused})`);
  // Nobody closes the idle sockets here: the headers timeout does, and the node serves again.
  await eventually(
    () => idle.every((c) => c.closedAt !== undefined),
    5000,
    'the headers timeout to close the idle sockets',
  );
  assert.ok(
    idle.every((c) => c.received.startsWith('HTTP/1.1 408')),
    'idle sockets are told why',
  );
  const res = await http('GET', `${url}/metrics`);
  assert.equal(res.status, 200);
  assert.ok(
    metric(res.body, 'converge_http_connections_dropped_total') >= 1,
    'the dropped connection is counted',
  );
});

test('the connection limits and timeouts come from flags, environment or file, and are checked', () => {
  const base = { id: 'a', data: '/d' };
  const fromEnv = resolveConfig(
    base,
    readEnv({
      CONVERGE_CONNECTIONS_MAX: '50',
      CONVERGE_HEADERS_TIMEOUT: '2s',
      CONVERGE_TOKEN: 'secret-token',
    }),
  );
  assert.deepEqual(fromEnv.http, {
    connectionsMax: 50,
    headersTimeoutMs: 2000,
    receiveTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    keepAliveTimeoutMs: 5000,
  });
  assert.equal(
    readEnv({ CONVERGE_TOKEN: 'secret-token' }).token,
    undefined,
    'a client token is never a setting',
  );
  assert.throws(
    () => resolveConfig({ ...base, 'headers-timeout': '40s' }),
    /--headers-timeout \(40000 ms\) must not exceed --receive-timeout \(30000 ms\)/,
  );
  assert.throws(
    () => resolveConfig({ ...base, 'connections-max': '0' }),
    /--connections-max: "0" must be an integer from 1 to 1000000/,
  );
  assert.throws(
    () => resolveConfig({ ...base, 'idle-timeout': 'soon' }),
    /--idle-timeout: "soon" is not a duration/,
  );
});

test('converge repair outlasting --idle-timeout still gets its answer: the idle timer waits for the sessions', async () => {
  const cluster = await startCluster({
    nodes: 2,
    settings: {
      hints: false,
      'read-repair': false,
      'ae-interval': '1h',
      'ae-adaptive': false,
      'ae-records-per-second': '400',
      'idle-timeout': '1s',
    },
  });
  try {
    const [n1, n2] = cluster.configs.map((c) => c.id) as [string, string];
    await cluster.stop(n2);
    for (let i = 0; i < 1200; i++) {
      const res = await http('PUT', `${cluster.url(n1)}/kv/idle-${i}?consistency=one`, `v${i}`);
      assert.equal(res.status, 200, res.body);
    }
    await cluster.start(n2);
    // 1,200 records at 400 records/s keep the session, and the request, busy for about three idle timeouts.
    const started = Date.now();
    const res = await http('POST', `${cluster.url(n1)}/antientropy/run?peer=${n2}`);
    assert.equal(res.status, 200, res.body);
    const [session] = (res.json as { sessions: Array<{ result: string; keysPushed: number }> }).sessions;
    assert.equal(session?.result, 'repaired');
    assert.equal(session?.keysPushed, 1200);
    assert.ok(Date.now() - started > 1000, 'the session outlasted the idle timeout');
    const after = await http('GET', `${cluster.url(n1)}/status`);
    assert.equal(after.status, 200, 'the node serves on');
  } finally {
    await cluster.close();
  }
});
