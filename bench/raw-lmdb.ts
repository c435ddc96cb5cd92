// The storage engine's own put rate, measured in the same run as converge: single-record writes issued
// concurrently (lmdb-js batches a turn's writes into one transaction), same sync policy and value size.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLmdbStorage } from '../src/storage/lmdb.js';
import type { SyncPolicy } from '../src/storage/storage.js';

export async function rawLmdbPutsPerSecond(
  root: string,
  sync: SyncPolicy,
  n: number,
  valueBytes: number,
  inFlight: number,
): Promise<number> {
  const dir = join(root, `raw-${sync}-${Math.random().toString(36).slice(2)}`);
  const storage = openLmdbStorage({ path: dir, sync });
  const value = new Uint8Array(valueBytes).fill(0x61);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        await storage.write([{ key: new TextEncoder().encode(`raw-${i}`), value }]);
      }
    }),
  );
  const rate = n / ((performance.now() - start) / 1000);
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}
