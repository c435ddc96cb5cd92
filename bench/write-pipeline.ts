// The replica's storage pipeline alone (part of `npm run bench -- write`, `--only pipeline`): one replica
// over lmdb with `sync group` in the benchmark's process, single-record client applies from a closed loop,
// with one storage write in flight (a batch begins once the previous one is durable) against the default
// (the next commits while the previous one is flushed). No HTTP and no peers: what is left is the wait for
// the disk.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { LocalReplica, storageWritesInFlightMaxDefault } from '../src/replica/replica.js';
import { openLmdbStorage } from '../src/storage/lmdb.js';
import { percentile } from './load.js';
import type { Row } from './report.js';

const value = new Uint8Array(100).fill(0x61);

async function applyLoop(
  root: string,
  writesInFlightMax: number,
  inFlight: number,
  durationMs: number,
): Promise<{ perSec: number; latenciesMs: number[] }> {
  const path = join(root, `pipeline-${writesInFlightMax}-${inFlight}-${Math.random().toString(36).slice(2)}`);
  const storage = openLmdbStorage({ path, sync: 'group' });
  const replica = new LocalReplica({
    id: 'p1',
    storage,
    storageWritesInFlightMax: writesInFlightMax,
    yieldNow: async () => {},
  });
  await replica.rebuild();
  const latenciesMs: number[] = [];
  let seq = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const i = seq++;
        const record = makeRecord(keyToBytes(`k${i}`), { ms: Date.now(), counter: i, node: 'p1' }, value);
        const t0 = performance.now();
        await replica.apply([record], 'client');
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const perSec = latenciesMs.length / ((performance.now() - start) / 1000);
  await storage.close();
  rmSync(path, { recursive: true, force: true });
  return { perSec, latenciesMs };
}

/** One row per (storage writes in flight, applies in flight), the two settings alternating. */
export async function pipelineRows(root: string, durationMs: number, run: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const inFlight of [8, 32]) {
    for (const writes of [1, storageWritesInFlightMaxDefault]) {
      const m = await applyLoop(root, writes, inFlight, durationMs);
      rows.push({
        bench: 'write',
        impl: 'replica-lmdb',
        mode: `storage-writes-${writes}`,
        consistency: '-',
        inFlight,
        run,
        opsPerSec: Math.round(m.perSec),
        p50Ms: Number(percentile(m.latenciesMs, 50).toFixed(2)),
        p99Ms: Number(percentile(m.latenciesMs, 99).toFixed(2)),
      });
    }
  }
  return rows;
}
