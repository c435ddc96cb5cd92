// Property-based fuzzing of a real two-node cluster over raw TCP: random and mutated HTTP requests (methods,
// paths, headers, bodies, bad JSON, bad percent-encoding, huge lengths, malformed HTTP) and mutated
// /internal/ messages, signed and unsigned. Every one must get a 4xx with a JSON error naming what was wrong,
// within a bounded time; the node must keep serving; and no replica's data or digest may change. Replay a
// failure with FUZZ_SEED=<seed printed by fast-check>.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { LocalCluster } from '../src/cli/cluster.js';
import { encodeKey, encodeRecords } from '../src/cluster/codec.js';
import { errorCodes } from '../src/core/errors.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { encodeRoundRequest, wireVersion } from '../src/core/wire.js';
import { encodeItemHeadersRequest, encodeSymbolRequest } from '../src/core/wire-symbols.js';
import { clusterSigner } from '../src/server/auth/cluster-auth.js';
import { converged, eventually, http, startCluster } from './helpers.js';

const keyBytesMax = 64;
const valueBytesMax = 1024;
const bodyBytesMax = 2048;
const answerMsMax = 5000;
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const runs = (n: number) => ({
  numRuns: n,
  includeErrorInReport: true,
  ...(seed === undefined ? {} : { seed }),
});

const secret = randomBytes(32);
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
let cluster: LocalCluster;
let port: number;
let baseline: Array<{ root: string; keys: number }>;

const snapshot = () =>
  [...cluster.running.values()].map((r) => ({
    root: r.ctx.replica.digest.rootHex(),
    keys: r.ctx.replica.digest.count(),
  }));

before(async () => {
  cluster = await startCluster({
    nodes: 2,
    clusterSecret: secret,
    settings: {
      hints: false,
      'read-repair': false,
      'ae-interval': '300ms',
      'key-bytes-max': String(keyBytesMax),
      'value-bytes-max': `${valueBytesMax}`,
      'body-bytes-max': `${bodyBytesMax}`,
      // Whatever is still incomplete when generation goes wrong gets its 408 well within answerMsMax.
      'headers-timeout': '2s',
    },
  });
  port = Number(new URL(cluster.url('n1')).port);
  for (let i = 0; i < 40; i++) {
    const res = await http('PUT', `${cluster.url('n1')}/kv/seed-${i}?consistency=all`, `value ${i}`);
    assert.equal(res.status, 200, res.body);
  }
  await http('DELETE', `${cluster.url('n1')}/kv/seed-0?consistency=all`);
  await eventually(() => converged(cluster), 10_000, 'the seeded replicas to converge');
  baseline = snapshot();
});
after(async () => cluster.close());

interface Answer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** Writes raw bytes on a fresh connection and reads the first response; a missing or late answer fails. */
function send(raw: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | undefined, answer?: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      err === undefined ? resolve(answer!) : reject(err);
    };
    const parsed = (): Answer | undefined => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = data.subarray(0, end).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(head);
      if (m === null) return { status: 0, head, body: '' };
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return undefined;
      return { status: Number(m[1]), head, body: data.subarray(end + 4, end + 4 + length).toString('utf8') };
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${answerMsMax} ms`)), answerMsMax);
    socket.on('data', (d) => {
      data = Buffer.concat([data, d]);
      const answer = parsed();
      if (answer !== undefined) finish(undefined, answer);
    });
    // The node may close right after answering; what arrived before counts.
    socket.on('error', () => {});
    socket.on('close', () => {
      const answer = parsed();
      finish(
        answer === undefined
          ? new Error(`connection closed without an answer (${data.length} bytes)`)
          : undefined,
        answer,
      );
    });
    socket.write(raw);
  });
}

/** One generated request and the statuses it may get. */
interface Case {
  readonly family: string;
  readonly raw: Buffer;
  readonly statuses?: readonly number[];
}

function request(
  method: string,
  target: string,
  headers: Array<[string, string]>,
  body: Buffer | string = '',
): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const lines = [`${method} ${target} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close'];
  const hasLength = headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
  if (!hasLength && bytes.length > 0) lines.push(`content-length: ${bytes.length}`);
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]);
}

const kvMethod = fc.constantFrom('GET', 'PUT', 'DELETE');
const safeKey = fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/);
const level = fc.constantFrom('one', 'quorum', 'all');

// --- The public API ---------------------------------------------------------------------------------------

const badPercent = fc
  .tuple(
    kvMethod,
    safeKey,
    fc.constantFrom('%', '%Z1', '%1', '%C0%80', '%ED%A0%80', '%FF', '%E2%82', '%%', '%G0'),
    safeKey,
  )
  .map(
    ([m, a, bad, b]): Case => ({
      family: 'bad percent-encoding',
      // The character after the bad escape is never a hex digit, so the escape cannot complete.
      raw: request(m, `/kv/${a}${bad}z${b}`, [], m === 'PUT' ? 'v' : ''),
      statuses: [400],
    }),
  );

const longKey = fc.tuple(kvMethod, fc.integer({ min: keyBytesMax + 1, max: 12_000 })).map(
  ([m, n]): Case => ({
    family: 'key too long',
    raw: request(m, `/kv/${'k'.repeat(n)}`, [], m === 'PUT' ? 'v' : ''),
    statuses: [400],
  }),
);

const hugeRequestLine = fc.integer({ min: 17_000, max: 60_000 }).map(
  (n): Case => ({
    family: 'request line over the header limit',
    raw: request('GET', `/kv/${'k'.repeat(n)}`, []),
    statuses: [431],
  }),
);

const bigValue = fc.tuple(safeKey, fc.integer({ min: valueBytesMax + 1, max: bodyBytesMax * 3 })).map(
  ([k, n]): Case => ({
    family: 'value or body too large',
    raw: request('PUT', `/kv/${k}`, [], Buffer.alloc(n, 0x61)),
    statuses: [413],
  }),
);

const hugeLength = fc
  .tuple(safeKey, fc.constantFrom('2049', '1000000', '9007199254740991', '99999999999999999999'))
  .map(
    ([k, n]): Case => ({
      family: 'huge content-length',
      raw: request('PUT', `/kv/${k}`, [['content-length', n]], 'v'),
      statuses: [400, 413],
    }),
  );

const badConsistency = fc
  .tuple(
    kvMethod,
    safeKey,
    fc.oneof(
      fc.string({ maxLength: 12 }).filter((s) => !['one', 'quorum', 'all'].includes(s)),
      fc.tuple(level, level).map(([a, b]) => `${a}&consistency=${b}`),
    ),
  )
  .map(
    ([m, k, c]): Case => ({
      family: 'bad consistency',
      raw: request(
        m,
        `/kv/${k}?consistency=${encodeURIComponent(c).replace(/%26consistency%3D/, '&consistency=')}`,
        [],
        m === 'PUT' ? 'v' : '',
      ),
      statuses: [400],
    }),
  );

const emptyKey = fc.tuple(kvMethod, fc.constantFrom('/kv/', '/kv/?consistency=one')).map(
  ([m, t]): Case => ({
    family: 'empty key',
    raw: request(m, t, [], m === 'PUT' ? 'v' : ''),
    statuses: [400],
  }),
);

const knownTop = new Set([
  'kv',
  'status',
  'metrics',
  'antientropy',
  'internal',
  'cluster',
  'digest',
  'assets',
  'demo',
]);
const unknownRoute = fc
  .tuple(
    fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'),
    fc.stringMatching(/^[a-z0-9._~-]{1,16}$/).filter((s) => !knownTop.has(s)),
    fc.stringMatching(/^[a-z0-9/]{0,20}$/),
  )
  .map(
    ([m, a, b]): Case => ({ family: 'unknown route', raw: request(m, `/${a}/${b}`, []), statuses: [404] }),
  );

const routeless: Array<[string, string]> = [
  ['PATCH', '/kv/'],
  ['POST', '/kv/'],
  ['OPTIONS', '/kv/'],
  ['PUT', '/status'],
  ['POST', '/status'],
  ['DELETE', '/metrics'],
  ['PATCH', '/antientropy'],
  ['GET', '/antientropy/run'],
  ['PUT', '/antientropy/pause'],
  ['GET', '/internal/ping'.replace('internal', 'internals')],
];
const wrongMethod = fc.tuple(fc.constantFrom(...routeless), safeKey).map(
  ([[m, p], k]): Case => ({
    family: 'method without a route',
    raw: request(m, p.endsWith('/') ? `${p}${k}` : p, [], 'x'),
    statuses: [404],
  }),
);

const badControl = fc.oneof(
  fc.string({ maxLength: 10 }).map(
    (v): Case => ({
      family: 'bad throttle',
      raw: request(
        'POST',
        `/antientropy/throttle?records=${encodeURIComponent(v === '' ? '-1' : `${v}x`)}`,
        [],
      ),
      statuses: [400],
    }),
  ),
  fc.string({ maxLength: 10 }).map(
    (v): Case => ({
      family: 'bad preview limit',
      raw: request('GET', `/antientropy/preview?peer=n2&limit=${encodeURIComponent(`${v}.5`)}`, []),
      statuses: [400],
    }),
  ),
  fc.constant<Case>({
    family: 'preview without peer',
    raw: request('GET', '/antientropy/preview', []),
    statuses: [400],
  }),
  safeKey
    .filter((p) => p !== 'n1' && p !== 'n2')
    .map(
      (p): Case => ({
        family: 'run with an unknown peer',
        raw: request('POST', `/antientropy/run?peer=${p}`, []),
        statuses: [404],
      }),
    ),
  safeKey
    .filter((p) => p !== 'n1' && p !== 'n2')
    .map(
      (p): Case => ({
        family: 'dashboard proxy, unknown node',
        raw: request('POST', `/cluster/nodes/${p}/antientropy/pause`, []),
        statuses: [404],
      }),
    ),
  fc
    .stringMatching(/^[a-z]{1,8}$/)
    .filter((a) => !['run', 'pause', 'resume'].includes(a))
    .map(
      (a): Case => ({
        family: 'dashboard proxy, unknown action',
        raw: request('POST', `/cluster/nodes/n2/antientropy/${a}`, []),
        statuses: [404],
      }),
    ),
);

// Bodies that are not JSON at all, or JSON of the wrong shape, sent to the demo controls (which parse JSON).
const demoRoute = fc.constantFrom(
  '/demo/isolate',
  '/demo/stop',
  '/demo/start',
  '/demo/write-burst',
  '/demo/mechanism',
);
const brokenJson = fc
  .tuple(
    demoRoute,
    fc.constantFrom('{"node":"n2","count":5,"mechanism":"hints","enabled":true}', '{"node":"n1"}', '[1,2,3]'),
    fc.nat(),
  )
  .map(([route, json, cut]) => ({ route, text: json.slice(0, 1 + (cut % (json.length - 1))) }))
  .map(
    ({ route, text }): Case => ({
      family: 'truncated JSON',
      raw: request('POST', route, [['content-type', 'application/json']], text),
      statuses: [400],
    }),
  );
const wrongJson = fc
  .tuple(
    fc.constantFrom('/demo/isolate', '/demo/stop', '/demo/start'),
    fc.oneof(
      fc.constant('{}'),
      fc
        .jsonValue()
        .map((v) => JSON.stringify({ node: typeof v === 'string' && v.length > 0 ? 0 : v }))
        .filter((t) => !/"node":"/.test(t)),
    ),
  )
  .map(
    ([route, text]): Case => ({
      family: 'JSON without a node',
      raw: request('POST', route, [], text),
      statuses: [400],
    }),
  );
const badBurst = fc
  .oneof(
    fc.integer({ min: 10_001, max: 2 ** 40 }),
    fc.integer({ max: 0 }),
    fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
    fc.string(),
  )
  .map(
    (count): Case => ({
      family: 'write burst with a bad count',
      raw: request('POST', '/demo/write-burst', [], JSON.stringify({ count })),
      statuses: [400],
    }),
  );

const publicApi = fc.oneof(
  badPercent,
  longKey,
  hugeRequestLine,
  bigValue,
  hugeLength,
  badConsistency,
  emptyKey,
  unknownRoute,
  wrongMethod,
  badControl,
  brokenJson,
  wrongJson,
  badBurst,
);

// --- Malformed HTTP ---------------------------------------------------------------------------------------

const ctl = fc
  .integer({ min: 0, max: 31 })
  .filter((c) => c !== 9)
  .map((c) => String.fromCharCode(c));
const malformedHttp = fc.oneof(
  fc.tuple(safeKey, ctl).map(
    ([k, c]): Case => ({
      family: 'control character in a header value',
      raw: request('PUT', `/kv/${k}`, [['x-bad', `a${c}b`]], 'v'),
    }),
  ),
  fc
    .tuple(safeKey, fc.constantFrom(' x', 'a b', '(x)', 'a@b', '', 'a\u0001b'))
    .map(([k, n]): Case => ({ family: 'bad header name', raw: request('PUT', `/kv/${k}`, [[n, 'v']], 'v') })),
  fc.tuple(safeKey, fc.constantFrom('abc', '-1', '1,2', '0x10', '1 2', '+1', '')).map(
    ([k, n]): Case => ({
      family: 'bad content-length',
      raw: request('PUT', `/kv/${k}`, [['content-length', n]], 'v'),
    }),
  ),
  safeKey.map(
    (k): Case => ({
      family: 'two different content-lengths',
      raw: request(
        'PUT',
        `/kv/${k}`,
        [
          ['content-length', '1'],
          ['content-length', '2'],
        ],
        'vv',
      ),
    }),
  ),
  safeKey.map(
    (k): Case => ({
      family: 'content-length with chunked',
      raw: request(
        'PUT',
        `/kv/${k}`,
        [
          ['content-length', '1'],
          ['transfer-encoding', 'chunked'],
        ],
        '1\r\nv\r\n0\r\n\r\n',
      ),
    }),
  ),
  fc.tuple(safeKey, fc.constantFrom('zz', '-1', '1;', 'ffffffffffffffffff', '')).map(
    ([k, size]): Case => ({
      family: 'bad chunk size',
      raw: request('PUT', `/kv/${k}`, [['transfer-encoding', 'chunked']], `${size}\r\nv\r\n0\r\n\r\n`),
    }),
  ),
  fc.tuple(safeKey, fc.constantFrom('gzip', 'chunked, gzip', 'identity')).map(
    ([k, te]): Case => ({
      family: 'unsupported transfer-encoding',
      raw: request('PUT', `/kv/${k}`, [['transfer-encoding', te]], 'v'),
    }),
  ),
  fc.tuple(fc.constantFrom('get', 'G ET', 'PUT\t', 'GET\0', '\u00e9T', ''), safeKey).map(
    ([m, k]): Case => ({
      family: 'bad method',
      raw: Buffer.from(`${m} /kv/${k} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`, 'latin1'),
    }),
  ),
  fc.tuple(fc.constantFrom('HTTP/1.2', 'HTTP/9.9', 'HTTP/1', 'HTTX/1.1', 'HTTP/1.1 extra', ''), safeKey).map(
    ([v, k]): Case => ({
      family: 'bad HTTP version',
      raw: Buffer.from(`GET /kv/${k} ${v}\r\nhost: x\r\nconnection: close\r\n\r\n`, 'latin1'),
    }),
  ),
  safeKey.map(
    (k): Case => ({
      family: 'no host header',
      raw: Buffer.from(`GET /kv/${k} HTTP/1.1\r\nconnection: close\r\n\r\n`, 'latin1'),
    }),
  ),
  safeKey.map(
    (k): Case => ({
      family: 'header line without a colon',
      raw: Buffer.from(`GET /kv/${k} HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n`, 'latin1'),
    }),
  ),
  fc.integer({ min: 17_000, max: 40_000 }).map(
    (n): Case => ({
      family: 'header over the limit',
      raw: request('GET', '/status', [['x-big', 'b'.repeat(n)]]),
      statuses: [431],
    }),
  ),
  fc
    .uint8Array({ minLength: 1, maxLength: 300 })
    // Node skips empty lines before a request line: bytes that are only line ends are no request yet, and
    // bytes that start like a request line might be a valid one.
    .filter((b) => /^[\r\n]*[^\r\n]/.test(Buffer.from(b).toString('latin1')))
    .filter((b) => !/^[\r\n]*[A-Z]+ /.test(Buffer.from(b).toString('latin1')))
    .map(
      (b): Case => ({
        family: 'random bytes',
        raw: Buffer.concat([Buffer.from(b), Buffer.from('\r\n\r\n')]),
      }),
    ),
);

// --- /internal/ -------------------------------------------------------------------------------------------

const sign = clusterSigner('n2', secret);
const internalRoutes = [
  'replicate',
  'replicate/batch',
  'hint',
  'repair',
  'read',
  'ping',
  'ae/begin',
  'ae/msg',
  'ae/end',
];
const version = () => ({ ms: Date.now() + 3_600_000, counter: 0, node: 'n2' });
const validRecord = safeKey.map((k) => makeRecord(keyToBytes(`fuzz-${k}`), version(), keyToBytes('forged')));
const validBatch = fc.array(validRecord, { minLength: 1, maxLength: 5 }).map((rs) => encodeRecords(rs));
const anyBody = fc.oneof(
  validBatch,
  fc.uint8Array({ maxLength: 200 }),
  safeKey.map((k) => encodeKey(keyToBytes(k))),
);
const route = fc.oneof(fc.constantFrom(...internalRoutes), fc.stringMatching(/^[a-z/]{1,16}$/));

function internal(path: string, headers: Record<string, string>, body: Uint8Array): Buffer {
  return request(
    'POST',
    path,
    [['content-type', 'application/octet-stream'], ...Object.entries(headers)],
    Buffer.from(body),
  );
}

/** A header set mutated so that it cannot authenticate. */
const badCredentials = fc
  .tuple(route, anyBody, fc.nat(), fc.integer({ min: 0, max: 7 }))
  .map(([r, body, n, how]): Case => {
    const path = `/internal/${r}`;
    const h = sign('POST', path, body);
    const names = Object.keys(h);
    let family: string;
    let headers: Record<string, string> = { ...h };
    let sentBody = body;
    let sentPath = path;
    if (how === 0) {
      family = 'unsigned';
      headers = n % 2 === 0 ? {} : { 'x-converge-from': 'n2' };
    } else if (how === 1) {
      family = 'a credential header missing';
      delete headers[names[n % names.length]!];
    } else if (how === 2) {
      family = 'signature altered';
      const sig = h['x-converge-signature']!;
      const i = n % sig.length;
      headers['x-converge-signature'] = sig.slice(0, i) + (sig[i] === '0' ? '1' : '0') + sig.slice(i + 1);
    } else if (how === 3) {
      family = 'wrong secret';
      headers = clusterSigner('n2', Buffer.alloc(32, n % 256))('POST', path, body);
    } else if (how === 4) {
      family = 'timestamp outside the window';
      headers = clusterSigner(
        'n2',
        secret,
        () => Date.now() + (n % 2 === 0 ? -1 : 1) * (31_000 + (n % 100_000)),
      )('POST', path, body);
    } else if (how === 5) {
      family = 'sender changed after signing';
      headers['x-converge-from'] = n % 2 === 0 ? 'n1' : 'mallory';
    } else if (how === 6) {
      family = 'path changed after signing';
      sentPath = `/internal/${internalRoutes[n % internalRoutes.length]!}${r === internalRoutes[n % internalRoutes.length] ? 'x' : ''}`;
    } else {
      family = 'body changed after signing';
      sentBody =
        body.length > 0 && n % 3 === 0
          ? body.subarray(0, n % body.length)
          : Buffer.concat([Buffer.from(body), Buffer.from([n % 256])]);
    }
    return { family: `internal: ${family}`, raw: internal(sentPath, headers, sentBody), statuses: [401] };
  });

const aeMessage = fc
  .record({
    salt: fc.nat({ max: 2 ** 32 - 1 }),
    hash: fc.nat({ max: 2 ** 32 - 1 }),
    count: fc.nat({ max: 1000 }),
  })
  .map(({ salt, hash, count }) =>
    encodeRoundRequest({
      leafBits: 16,
      branchBits: 2,
      salt,
      items: [
        { kind: 'root', level: 0, index: 0, node: { hash, count } },
        { kind: 'node', level: 1 + (count % 15), index: 0, node: { hash, count } },
      ],
    }),
  );

/**
 * Symbol-path requests (a probe, a scoped probe or request for more symbols, or an item-headers request),
 * valid before they are cut or extended.
 */
const symbolMessage = fc
  .record({
    salt: fc.nat({ max: 2 ** 32 - 1 }),
    n: fc.integer({ min: 0, max: 8 }),
    kind: fc.constantFrom('probe', 'scoped-probe', 'scoped-more', 'headers'),
  })
  .map(({ salt, n, kind }) => {
    const scope = { partitionBits: 8, partitions: [n, n + 1, 100 + n, 255] };
    if (kind === 'scoped-more') return encodeSymbolRequest({ kind: 'more', from: n, to: 2 * n + 1, scope });
    if (kind === 'headers') {
      return encodeItemHeadersRequest({
        items: Array.from({ length: n }, (_, i) => [salt, i] as const),
        keyKnown: Array.from({ length: n }, (_, i) => i % 2 === 0),
      });
    }
    return encodeSymbolRequest({
      kind: 'probe',
      salt,
      scope: kind === 'scoped-probe' ? scope : undefined,
      root: { hi: salt, lo: n, count: n },
      sketch: { level: 4, bits: 16, parities: new Uint8Array(2) },
      symbols: new Uint32Array(3 * n).fill(salt),
    });
  });

/** Bodies that are correctly signed but malformed by construction, for each internal route. */
const badRecord = fc.oneof(
  fc.constant([new Uint8Array(0), new Uint8Array(12), false, new Uint8Array(1)]),
  fc.constant([keyToBytes('k'), new Uint8Array(12), 'yes', new Uint8Array(1)]),
  fc.constant([keyToBytes('k'), new Uint8Array(12), true, new Uint8Array(3)]),
  fc.constant([keyToBytes('k'), new Uint8Array(12), false]),
  fc.constant([keyToBytes('k'), 42, false, new Uint8Array(1)]),
  fc.constant([keyToBytes('k'.repeat(keyBytesMax + 1)), new Uint8Array(12), false, new Uint8Array(1)]),
  fc.constant('not a record'),
);
const signedMalformed = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('replicate', 'hint', 'repair'),
      fc.array(validRecord, { maxLength: 4 }),
      badRecord,
      fc.nat(),
    )
    .map(([r, good, bad, at]) => {
      // Valid records around one malformed record: the whole batch must be refused, none of it applied.
      const wire = encodeRecords(good);
      const msg = packr.unpack(wire) as { records: unknown[] };
      msg.records.splice(at % (good.length + 1), 0, bad);
      return { family: 'batch with one malformed record', route: r, body: packr.pack(msg) as Uint8Array };
    }),
  fc
    .tuple(fc.constantFrom('replicate', 'hint', 'repair'), validBatch, fc.nat())
    .map(([r, b, n]) => ({ family: 'truncated batch', route: r, body: b.subarray(0, n % b.length) })),
  fc.tuple(fc.constantFrom('replicate', 'hint', 'repair'), safeKey).map(([r, k]) => ({
    family: 'records of the wrong type',
    route: r,
    body: packr.pack({ records: k }) as Uint8Array,
  })),
  fc
    .tuple(
      fc.constantFrom('replicate', 'hint', 'repair', 'read', 'ae/begin', 'ae/end'),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(([r, b]) => ({ family: 'random bytes', route: r, body: b })),
  fc.oneof(fc.constant(new Uint8Array(0)), fc.constant(keyToBytes('k'.repeat(5000)))).map((key) => ({
    family: 'read with a bad key',
    route: 'read',
    body: packr.pack({ key }) as Uint8Array,
  })),
  fc.constantFrom('ae/begin', 'ae/end').map((r) => ({
    family: 'anti-entropy message missing fields',
    route: r,
    body: packr.pack({ id: 'x' }) as Uint8Array,
  })),
  fc.tuple(aeMessage, fc.nat()).map(([m, n]) => ({
    family: 'truncated round request',
    route: 'ae/msg',
    body: m.subarray(0, n % m.length),
  })),
  fc.tuple(aeMessage, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([m, extra]) => ({
    family: 'round request with trailing bytes',
    route: 'ae/msg',
    body: Buffer.concat([m, extra]),
  })),
  fc
    .tuple(
      aeMessage,
      fc.integer({ min: 0, max: 255 }).filter((v) => v !== wireVersion),
    )
    .map(([m, v]) => ({
      family: 'round request with another protocol version',
      route: 'ae/msg',
      body: Buffer.concat([Buffer.from([v]), m.subarray(1)]),
    })),
  fc.tuple(aeMessage, fc.integer({ min: 7, max: 255 })).map(([m, t]) => ({
    family: 'unknown message type',
    route: 'ae/msg',
    body: Buffer.concat([m.subarray(0, 1), Buffer.from([t]), m.subarray(2)]),
  })),
  fc.tuple(symbolMessage, fc.nat()).map(([m, n]) => ({
    family: 'truncated symbol-path request',
    route: 'ae/msg',
    body: m.subarray(0, n % m.length),
  })),
  fc.tuple(symbolMessage, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([m, extra]) => ({
    family: 'symbol-path request with trailing bytes',
    route: 'ae/msg',
    body: Buffer.concat([m, extra]),
  })),
  fc.tuple(aeMessage, fc.constantFrom('ae/msg', 'ae/begin', 'ae/end')).map(([m, r]) => ({
    family: 'anti-entropy from a node that is not a peer',
    route: r,
    body: m,
    from: 'mallory',
  })),
  fc
    .tuple(
      fc.stringMatching(/^[a-z]{1,12}$/).filter((r) => !internalRoutes.includes(r)),
      anyBody,
    )
    .map(([r, b]) => ({ family: 'unknown internal route', route: r, body: b })),
);

const signedCase = signedMalformed.map((m): Case => {
  const path = `/internal/${m.route}`;
  const from = 'from' in m ? (m.from as string) : 'n2';
  return {
    family: `internal, signed: ${m.family}`,
    raw: internal(path, clusterSigner(from, secret)('POST', path, m.body), m.body),
  };
});

// --- The properties ---------------------------------------------------------------------------------------

const seen = new Map<string, number>();

async function check(c: Case): Promise<void> {
  const answer = await send(c.raw);
  seen.set(c.family, (seen.get(c.family) ?? 0) + 1);
  const what = `${c.family}: ${answer.head.split('\r\n')[0]} ${answer.body.slice(0, 300)}`;
  assert.ok(answer.status >= 400 && answer.status < 500, what);
  if (c.statuses !== undefined)
    assert.ok(c.statuses.includes(answer.status), `expected ${c.statuses.join(' or ')}; ${what}`);
  const error = (JSON.parse(answer.body) as { error?: { code?: string; message?: string } }).error;
  assert.ok(error?.code !== undefined && error.code in errorCodes, `a registered error code; ${what}`);
  assert.equal(
    errorCodes[error.code as keyof typeof errorCodes],
    answer.status,
    `the code's own status; ${what}`,
  );
  assert.ok((error.message ?? '').length > 10, `a message saying what was wrong; ${what}`);
}

async function stillServing(): Promise<void> {
  const res = await http('GET', `${cluster.url('n1')}/kv/seed-1?consistency=all`);
  assert.equal(res.status, 200, `the node keeps serving: ${res.body}`);
  assert.equal(res.body, 'value 1');
}

function assertUnchanged(): void {
  assert.deepEqual(snapshot(), baseline, 'no replica changed: same digest roots and key counts');
}

test('random and mutated requests to the public API each get a 4xx JSON error and change nothing', async () => {
  await fc.assert(fc.asyncProperty(publicApi, check), runs(1000));
  await stillServing();
  assertUnchanged();
});

test('malformed HTTP each gets a 4xx JSON error naming the problem', async () => {
  await fc.assert(fc.asyncProperty(malformedHttp, check), runs(500));
  await stillServing();
  assertUnchanged();
});

test('internal messages without valid credentials get 401; signed but malformed ones get a 4xx; none applies anything', async () => {
  await fc.assert(fc.asyncProperty(fc.oneof(badCredentials, signedCase), check), runs(1500));
  await stillServing();
  assertUnchanged();
});

test('a signed request replayed is refused, however its first delivery ended', async () => {
  await fc.assert(
    fc.asyncProperty(signedMalformed, async (m) => {
      const path = `/internal/${m.route}`;
      const from = 'from' in m ? (m.from as string) : 'n2';
      const raw = internal(path, clusterSigner(from, secret)('POST', path, m.body), m.body);
      const first = await send(raw);
      assert.ok(first.status >= 400 && first.status < 500, `${m.family}: first delivery ${first.status}`);
      const again = await send(raw);
      assert.equal(again.status, 401, `${m.family}: replay ${again.status} ${again.body}`);
      assert.match(again.body, /replayed request/);
    }),
    runs(200),
  );
  assertUnchanged();
});

after(() => {
  const families = [...seen.entries()].sort((a, b) => b[1] - a[1]);
  process.stdout.write(
    `# fuzz families exercised (${families.length}): ${families.map(([f, n]) => `${f} ×${n}`).join('; ')}\n`,
  );
});
