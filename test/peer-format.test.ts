// The format check over real HTTP between two nodes: nodes of this build talk, a peer announcing another
// format (wire version or hashing) is refused with PEER_INCOMPATIBLE before any of its bytes are applied.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRecords } from '../src/cluster/codec.js';
import { HttpTransport } from '../src/cluster/http-transport.js';
import { ConvergeError } from '../src/core/errors.js';
import { formatHeader, formatId } from '../src/core/format.js';
import { makeRecord } from '../src/core/record.js';
import { http, startCluster } from './helpers.js';

const oldFormat = 'w0-0123456789abcdef-0123456789abcdef';

test('two nodes of one build replicate; a peer of another format is refused with a clear error', async () => {
  const cluster = await startCluster({ nodes: 2 });
  try {
    const put = await http('PUT', `${cluster.url('n1')}/kv/fmt?consistency=all`, 'same format');
    assert.equal(put.status, 200, put.body);

    // A node of another release: the same transport, its header claiming the other format.
    const peers = new Map([['n2', cluster.url('n2')]]);
    const stranger = new HttpTransport({ self: 'n1', peers, sign: () => ({ [formatHeader]: oldFormat }) });
    const record = makeRecord(
      new TextEncoder().encode('fmt'),
      { ms: Date.now() + 60_000, counter: 0, node: 'n1' },
      new Uint8Array(3),
    );
    try {
      await assert.rejects(
        stranger.call('n2', { route: 'replicate', body: encodeRecords([record]), timeoutMs: 5000 }),
        (err: unknown) =>
          err instanceof ConvergeError &&
          err.code === 'PEER_INCOMPATIBLE' &&
          err.message.includes(oldFormat) &&
          err.message.includes(formatId),
      );
    } finally {
      await stranger.close();
    }
    const raw = await http('POST', `${cluster.url('n2')}/internal/ping`, new Uint8Array(0), {
      'content-type': 'application/octet-stream',
      [formatHeader]: oldFormat,
    });
    assert.equal(raw.status, 409);
    assert.equal((raw.json as { error: { code: string } }).error.code, 'PEER_INCOMPATIBLE');

    const get = await http('GET', `${cluster.url('n2')}/kv/fmt?consistency=one`);
    assert.equal(get.body, 'same format', 'nothing of the refused peer was applied');
  } finally {
    await cluster.close();
  }
});
