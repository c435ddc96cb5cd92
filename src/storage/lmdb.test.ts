import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdbStorage } from './lmdb.js';
import type { Storage, SyncPolicy } from './storage.js';
import { runStorageContract } from './storage-contract.js';

for (const sync of ['always', 'group', 'none'] as SyncPolicy[]) {
  runStorageContract(`lmdb (sync ${sync})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-lmdb-'));
    let current: Storage = openLmdbStorage({ path: dir, sync });
    return {
      storage: current,
      secondReader: true,
      reopen: async () => {
        await current.close();
        current = openLmdbStorage({ path: dir, sync });
        return current;
      },
      cleanup: async () => {
        await current.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
