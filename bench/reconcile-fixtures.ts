// Replicas for the reconcile benchmark: real lmdb-backed replicas filled with n records, and the baselines'
// whole-replica scans.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash64, tokenHi } from '../src/core/hash.js';
import { encodeVersion, keyToBytes, makeRecord, type VersionedRecord } from '../src/core/record.js';
import { type LocalReplica, openReplica } from '../src/replica/replica.js';
import { openLmdbStorage } from '../src/storage/lmdb.js';
import type { Storage } from '../src/storage/storage.js';

export const leafBits = 18;
/** The ring's default 256 partitions: the replicas keep coded symbols per partition as a node does. */
export const partitionBits = 8;
export const valueBytes = 100;
const baseMs = 1_760_000_000_000;

export const keyOf = (i: number): Uint8Array => keyToBytes(`user:${String(i).padStart(10, '0')}`);

export function recordOf(i: number, generation: number): VersionedRecord {
  const value = new Uint8Array(valueBytes);
  for (let j = 0; j < valueBytes; j += 4)
    new DataView(value.buffer).setUint32(j, (i * 2654435761 + generation * 97 + j) >>> 0);
  return makeRecord(
    keyOf(i),
    { ms: baseMs + generation * 1_000_000 + (i % 1_000_000), counter: 0, node: 'w' },
    value,
  );
}

export async function openBenchReplica(
  root: string,
  name: string,
): Promise<{ replica: LocalReplica; storage: Storage }> {
  const storage = openLmdbStorage({ path: join(root, name), sync: 'none' });
  const replica = await openReplica({ id: name, storage, leafBits, partitionBits });
  await replica.whenDigestReady();
  return { replica, storage };
}

export async function fill(
  replicas: LocalReplica[],
  n: number,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  const batch = 10_000;
  for (let i = 0; i < n; i += batch) {
    const records = Array.from({ length: Math.min(batch, n - i) }, (_, j) => recordOf(i + j, 0));
    await Promise.all(replicas.map((r) => r.apply(records, 'bulk')));
    onProgress(i + records.length, n);
  }
  await Promise.all(replicas.map((r) => r.flush()));
}

export function benchRoot(): string {
  return mkdtempSync(join(tmpdir(), 'converge-bench-'));
}

/** Every (key, version) of a replica, as baseline (a) sends it: length-prefixed key, encoded version. */
export function fullList(replica: LocalReplica): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const { record } of replica.scanTokens(new Uint8Array(8).fill(0), undefined)) {
    const v = encodeVersion(record.version);
    const item = new Uint8Array(2 + record.key.length + v.length);
    new DataView(item.buffer).setUint16(0, record.key.length);
    item.set(record.key, 2);
    item.set(v, 2 + record.key.length);
    parts.push(item);
    size += item.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Baseline (b): a Merkle tree of depth `depth` built by scanning and hashing every record. */
export function merkleLeaves(
  replica: LocalReplica,
  depth: number,
): { words: Uint32Array; counts: Uint32Array } {
  const hiView = new Uint32Array(2 * 2 ** depth);
  const counts = new Uint32Array(2 ** depth);
  for (const { token, record } of replica.scanTokens(new Uint8Array(8).fill(0), undefined)) {
    const leaf = tokenHi(token) >>> (32 - depth);
    // A validation scan rehashes every row's content, as a Merkle tree built by compaction does.
    const v = encodeVersion(record.version);
    const buf = new Uint8Array(record.key.length + v.length + record.value.length);
    buf.set(record.key, 0);
    buf.set(v, record.key.length);
    buf.set(record.value, record.key.length + v.length);
    const [hi, lo] = hash64(buf);
    hiView[2 * leaf] = (hiView[2 * leaf]! ^ lo) >>> 0;
    hiView[2 * leaf + 1] = (hiView[2 * leaf + 1]! ^ hi) >>> 0;
    counts[leaf]! += 1;
  }
  return { words: hiView, counts };
}
