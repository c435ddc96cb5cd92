// The storage engine is chosen from the configuration (--engine): a cluster on the memory engine replicates
// and repairs like one on lmdb, with the repair worker's work on the event loop (memory has no second reader).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../src/config/config.js';
import { ConvergeError } from '../src/core/errors.js';
import { converged, eventually, startCluster } from './helpers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('--engine memory: nodes replicate and anti-entropy repairs, with no worker thread', async () => {
  const cluster = await startCluster({
    nodes: 2,
    settings: { engine: 'memory', 'ae-interval': '200ms', hints: false, 'read-repair': false },
  });
  try {
    for (const id of ['n1', 'n2']) {
      const ctx = cluster.node(id).ctx;
      assert.equal(ctx.storage.engine, 'memory');
      assert.equal(ctx.services.repairWorker, undefined, `${id}: no second reader, no worker`);
      assert.equal(ctx.status().antiEntropy.serveWorker?.running, false);
    }
    await cluster.node('n2').ctx.antiEntropy?.pause();
    await cluster.isolate('n2');
    await cluster.node('n1').ctx.node.put('k', text('v'), 'one');
    await cluster.heal();
    await cluster.node('n2').ctx.antiEntropy?.resume();
    await eventually(() => converged(cluster), 20_000, 'the replicas to converge');
    const got = await cluster.node('n2').ctx.node.get('k', 'one');
    assert.equal(Buffer.from(got.value!).toString(), 'v');
  } finally {
    await cluster.close();
  }
});

test('--engine must name a known engine', () => {
  const base = { id: 'n1', data: '/tmp/x' };
  assert.equal(resolveConfig(base).engine, 'lmdb');
  assert.equal(resolveConfig(base, { engine: 'memory' }).engine, 'memory');
  assert.throws(
    () => resolveConfig(base, { engine: 'rocks' }),
    (err) => err instanceof ConvergeError && err.code === 'CONFIG_INVALID' && /--engine/.test(err.message),
  );
});
