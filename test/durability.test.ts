// kill -9 of a node right after acknowledged writes loses nothing: `converge serve` runs as a child process
// with the default sync policy and lmdb storage, is killed with SIGKILL and restarted on the same data.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { http, killed, randomBasePort, spawnServe } from './helpers.js';

for (const sync of ['group', 'none'] as const) {
  test(`kill -9 right after acknowledged writes loses nothing (sync ${sync})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-kill-'));
    const port = randomBasePort() + 1;
    // The peer is listed but not running: writes at `one` are acknowledged by this node alone.
    const args = [
      '--id',
      'solo',
      '--listen',
      `127.0.0.1:${port}`,
      '--data',
      dir,
      '--peers',
      `other=http://127.0.0.1:${port + 1}`,
      '--sync',
      sync,
      '--no-hints',
      '--no-anti-entropy',
      '--request-timeout',
      '300ms',
    ];
    let child = await spawnServe(args);
    try {
      const acked: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = 0; i < 40; i++) {
            const key = `k-${w}-${i}`;
            const res = await http(
              'PUT',
              `http://127.0.0.1:${port}/kv/${key}?consistency=one`,
              `value of ${key}`,
            );
            if (res.status === 200) acked.push(key);
          }
        }),
      );
      const del = await http('DELETE', `http://127.0.0.1:${port}/kv/k-0-0?consistency=one`);
      assert.equal(del.status, 200);
      child.kill('SIGKILL');
      await killed(child);
      child = await spawnServe(args);
      assert.equal(acked.length, 320);
      for (const key of acked) {
        const res = await http('GET', `http://127.0.0.1:${port}/kv/${key}?consistency=one`);
        if (key === 'k-0-0') assert.equal(res.status, 404, 'the acknowledged delete survived too');
        else assert.equal(res.body, `value of ${key}`, key);
      }
    } finally {
      child.kill('SIGKILL');
      await killed(child);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
