// kill -9 of a node in the middle of an anti-entropy session with 100,000 divergent keys: after restart the
// session resumes from its checkpoint and completes; no key is lost and no deleted key comes back.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repairBatchRecordsMax } from '../src/antientropy/session.js';
import type { AntiEntropyStatus } from '../src/antientropy/types.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { openReplica } from '../src/replica/replica.js';
import { openLmdbStorage } from '../src/storage/lmdb.js';
import { eventually, http, killed, randomBasePort, spawnServe } from './helpers.js';

const total = 100_000;

const seededAtMs = Date.now();

async function seed(dir: string): Promise<void> {
  const storage = openLmdbStorage({ path: dir, sync: 'none' });
  const replica = await openReplica({ id: 'a', storage, leafBits: 14 });
  await replica.whenDigestReady();
  for (let i = 0; i < total; i += 5000) {
    const batch = Array.from({ length: 5000 }, (_, j) => {
      const k = i + j;
      // Every 10th key is a tombstone: it must arrive as a tombstone, never as a live value.
      // Current versions: tombstones younger than the purge grace stay (older ones may rightly be purged once
      // both replicas have them, which would make the key count drop below the total mid-test).
      return makeRecord(
        keyToBytes(`key-${k}`),
        { ms: seededAtMs, counter: k % 65_536, node: 'a' },
        k % 10 === 0 ? null : keyToBytes(`value-${k}`),
      );
    });
    await replica.apply(batch, 'bulk');
  }
  await replica.flush();
  await storage.close();
}

test('kill -9 mid-session with 100,000 divergent keys: the session resumes and completes, nothing lost or resurrected', async () => {
  const root = mkdtempSync(join(tmpdir(), 'converge-aecrash-'));
  const port = randomBasePort();
  const urls = { a: `http://127.0.0.1:${port + 1}`, b: `http://127.0.0.1:${port + 2}` };
  const peers = `a=${urls.a},b=${urls.b}`;
  const common = [
    '--peers',
    peers,
    '--no-hints',
    '--no-read-repair',
    '--ae-interval',
    '200ms',
    '--leaf-bits',
    '14',
    '--ae-records-per-second',
    '15000',
    '--sync',
    'none',
  ];
  const argsA = ['--id', 'a', '--listen', `127.0.0.1:${port + 1}`, '--data', join(root, 'a'), ...common];
  const argsB = ['--id', 'b', '--listen', `127.0.0.1:${port + 2}`, '--data', join(root, 'b'), ...common];
  await seed(join(root, 'a'));
  const children: ChildProcess[] = [];
  const start = async (args: string[]): Promise<ChildProcess> => {
    const child = await spawnServe(args);
    children.push(child);
    return child;
  };
  try {
    await start(argsA);
    let b = await start(argsB);
    const ae = async (url: string) => (await http('GET', `${url}/antientropy`)).json as AntiEntropyStatus;
    const keys = async (url: string) => ((await http('GET', `${url}/status`)).json as { keys: number }).keys;
    let atKill = 0;
    await eventually(
      async () => {
        atKill = await keys(urls.b);
        return atKill > 10_000 && atKill < total - 10_000;
      },
      60_000,
      'a session to be well under way',
    );
    b.kill('SIGKILL');
    await killed(b);
    b = await start(argsB);
    await eventually(async () => (await keys(urls.b)) === total, 120_000, 'b to hold every record');
    await eventually(
      async () => {
        const [sa, sb] = await Promise.all([
          http('GET', `${urls.a}/status`),
          http('GET', `${urls.b}/status`),
        ]);
        return (
          (sa.json as { digest: { root: string } }).digest.root ===
          (sb.json as { digest: { root: string } }).digest.root
        );
      },
      30_000,
      'equal digests',
    );
    for (let k = 0; k < total; k += 997) {
      const res = await http('GET', `${urls.b}/kv/key-${k}?consistency=one`);
      if (k % 10 === 0) assert.equal(res.status, 404, `key-${k} was deleted and must stay deleted`);
      else assert.equal(res.body, `value-${k}`, `key-${k}`);
    }
    // What finished before the kill is not redone: over every recorded session (a resumed one counts its work
    // from before the crash too), no more records moved than there were to move — plus at most one batch that
    // was applied but not committed at the kill, never acknowledged, and so sent again.
    const moved =
      (await ae(urls.a)).history.filter((h) => h.initiator === 'a').reduce((n, h) => n + h.keysPushed, 0) +
      (await ae(urls.b)).history.filter((h) => h.initiator === 'b').reduce((n, h) => n + h.keysPulled, 0);
    assert.ok(moved > 0, 'sessions completed the repair');
    assert.ok(moved <= total + repairBatchRecordsMax, `moved ${moved} records in all for ${total} missing`);
  } finally {
    for (const child of children) {
      child.kill('SIGKILL');
      await killed(child);
    }
    rmSync(root, { recursive: true, force: true });
  }
});
