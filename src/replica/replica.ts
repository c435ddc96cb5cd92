// A replica: storage plus a digest that always describes exactly what storage (with pending writes) holds.
// Every change goes through core merge. Applies update the digest and a pending overlay synchronously and
// are group-committed: the next storage batch accumulates while storage is busy, so many applies share a
// commit. Several batches may be in flight at once: the next commits while the previous one is flushed, and
// each apply is answered when its own batch is durable, never earlier.

import { DigestTree, leafBitsDefault } from '../core/digest.js';
import { assert, ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { type Hash64, tokenOf } from '../core/hash.js';
import { type Clock, isAheadOfClock, maxClockDriftMsDefault } from '../core/hlc.js';
import { PartitionSymbols, partitionSymbolsBudgetDefault, updateSymbols } from '../core/partition-symbols.js';
import { decodeRecordValue, encodeRecordValue, supersedes, type VersionedRecord } from '../core/record.js';
import { CodedSymbols, symbolsMaxDefault } from '../core/riblt.js';
import { writeRefusal } from '../storage/guarded.js';
import type { Storage, WriteOp } from '../storage/storage.js';
import { hintPrefix, metaKey, recordBound, recordKey, tombstoneKey } from './layout.js';
import { type PurgeFilter, purgeTombstones, type VerifyLeafResult, verifyLeaf } from './maintenance.js';
import {
  type MergedEntry,
  Overlay,
  type OverlayEntry,
  scanMerged,
  scanPageRecords,
  scanTokenRecords,
  toLatin1,
} from './overlay.js';
import {
  type PreparedRecord,
  type PreparedRecords,
  readPrepared,
  writeEpochBucket,
  writeEpochBuckets,
} from './prepared.js';
import { type RebuildProgress, rebuildDigest } from './rebuild.js';
import { prefixedSpace, type StorageSpace } from './space.js';
import type { ApplyResult, ApplySource, Replica, TokenEntry } from './types.js';

const acknowledgedSources: ReadonlySet<ApplySource> = new Set(['client', 'replication', 'hint']);

export interface ReplicaOptions {
  readonly id: string;
  readonly storage: Storage;
  readonly leafBits?: number;
  /** Coded symbols kept beside the digest (16 bytes each); 0 keeps none and turns the symbol path off. */
  readonly symbolsMax?: number;
  /** The ring's partitions as bits (P = 2^bits): with P > 1 symbols are also kept per partition. */
  readonly partitionBits?: number;
  /** Coded symbols kept over all partitions together, split evenly (0: none; scoped sessions descend). */
  readonly partitionSymbolsBudget?: number;
  readonly onRebuildProgress?: (progress: RebuildProgress) => void;
  /** Lets the event loop run between rebuild slices; the simulation passes its own. */
  readonly yieldNow?: () => Promise<void>;
  /** Records read per rebuild slice before yielding. */
  readonly rebuildSliceRecords?: number;
  /**
   * The node's clock: a record stamped more than `maxClockDriftMs` ahead of it is refused by every apply,
   * from whatever source (core/hlc.ts isAheadOfClock). Without a clock (unit tests of storage alone) nothing
   * is refused.
   */
  readonly clock?: Clock;
  readonly maxClockDriftMs?: number;
  /**
   * Storage batches written at once. With 1 a batch begins only once the previous one is durable, so a write
   * can wait for two flushes in a row; with more, storage commits the next batch while it flushes the last
   * (lmdb's overlapping sync) and the write waits for about one.
   */
  readonly storageWritesInFlightMax?: number;
}

/**
 * The tombstone purge bound of the partition a token falls in: records under it are garbage everywhere (see
 * `LocalReplica.underPurgeBound`). Anti-entropy proves and raises it; 0 means nothing is purged yet.
 */
export type PurgeBoundOf = (token: Uint8Array) => number;
export const storageWritesInFlightMaxDefault = 8;

/** Told of every record refused for being stamped too far ahead (the node counts and logs them). */
export type RefusedAheadListener = (record: VersionedRecord, source: ApplySource, nowMs: number) => void;

interface Batch {
  readonly ops: WriteOp[];
  readonly entries: Array<{ lkey: string; entry: OverlayEntry }>;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
  /** The storage write and its handling, once begun. */
  written?: Promise<void>;
}

/** Verification's copies of the coded symbols, rebuilt leaf by leaf beside the maintained ones. */
export interface SymbolShadow {
  readonly symbols: CodedSymbols | undefined;
  readonly partitions: PartitionSymbols | undefined;
  leafEnd: number;
}

export class LocalReplica implements Replica {
  readonly id: string;
  readonly storage: Storage;
  readonly digest: DigestTree;
  /** The first M coded symbols over the same records as the digest, kept in step with it. */
  readonly symbols: CodedSymbols | undefined;
  /** The first M' coded symbols of each ring partition's records (P > 1), kept in step the same way. */
  readonly partitionSymbols: PartitionSymbols | undefined;
  /**
   * While verification rebuilds the symbols beside the maintained ones: changes to leaves below `leafEnd`
   * (those it has read) go into its copies too.
   */
  symbolShadow: SymbolShadow | null = null;
  /** Counts digest rebuilds: a verification pass spanning one cannot compare symbols. */
  rebuilds = 0;
  /** Not-yet-committed records by latin1 storage key; `record: null` is a pending removal. */
  readonly overlay = new Overlay();
  /** While the digest is rebuilt: storage keys >= cursor are not in it yet (the scan will count them). */
  rebuildCursor: string | null = null;
  private readyWaiters: Array<() => void> = [];
  /** Bumped by each rebuild: a failed write during a rebuild starts another, and the older one stops. */
  private rebuildGeneration = 0;
  private next: Batch | null = null;
  /** The batches storage is writing now, oldest first. */
  private readonly writing: Batch[] = [];
  /** Bumped by a failed write: the writes in flight beside it are answered as failed whatever they do. */
  private writeGeneration = 0;
  /**
   * After a failed write, until the writes begun beside it have settled: they may still land, so nothing may
   * be merged against storage meanwhile.
   */
  private settling: Promise<void> | null = null;
  private readonly counts = {
    applied: 0,
    ignored: 0,
    mergedAgain: 0,
    bySource: new Map<ApplySource, number>(),
    refusedAhead: new Map<ApplySource, number>(),
  };
  onRefusedAhead: RefusedAheadListener | null = null;
  /**
   * Changes per bucket of keys, shared with a thread that prepares pulled records (prepared.ts); null until
   * shared.
   */
  private writeEpochs: Uint32Array | null = null;
  private purgeBoundOf: PurgeBoundOf = () => 0;

  constructor(private readonly options: ReplicaOptions) {
    this.id = options.id;
    this.storage = options.storage;
    this.digest = new DigestTree(options.leafBits ?? leafBitsDefault);
    const symbolsMax = options.symbolsMax ?? symbolsMaxDefault;
    this.symbols = symbolsMax > 0 ? new CodedSymbols(symbolsMax) : undefined;
    this.partitionSymbols = PartitionSymbols.forBudget(
      options.partitionBits ?? 0,
      options.partitionSymbolsBudget ?? partitionSymbolsBudgetDefault,
    );
  }

  get digestReady(): boolean {
    return this.rebuildCursor === null;
  }

  whenDigestReady(): Promise<void> {
    if (this.digestReady) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Rebuilds the digest from storage in slices, without blocking reads and writes. */
  async rebuild(): Promise<void> {
    const generation = this.forgetDigest();
    const finished = await rebuildDigest(this, {
      sliceRecords: this.options.rebuildSliceRecords ?? 20_000,
      yieldNow: this.options.yieldNow ?? (() => new Promise((resolve) => setImmediate(resolve))),
      onProgress: this.options.onRebuildProgress,
      current: () => generation === this.rebuildGeneration,
    });
    if (finished) for (const wake of this.readyWaiters.splice(0)) wake();
  }

  /**
   * Clears the digest and the symbols and marks them not ready (nothing counted yet); a rebuild running
   * stops. Returns the new rebuild generation.
   */
  private forgetDigest(): number {
    const generation = ++this.rebuildGeneration;
    this.digest.clear();
    this.symbols?.clear();
    this.partitionSymbols?.clear();
    this.rebuilds += 1;
    this.rebuildCursor = toLatin1(recordBound(new Uint8Array(0)));
    return generation;
  }

  get(key: Uint8Array): VersionedRecord | undefined {
    return this.read(recordKey(tokenOf(key), key), key);
  }

  scanTokens(start: Uint8Array, end: Uint8Array | undefined, limit?: number): Iterable<TokenEntry> {
    return scanTokenRecords(this.storage, this.overlay, start, end, scanPageRecords, limit);
  }

  /** Raw merged page of records (rebuild and verification use it). */
  scanPage(
    from: Uint8Array,
    to: Uint8Array,
    limit: number,
  ): { entries: MergedEntry[]; next: Uint8Array | undefined } {
    return scanMerged(this.storage, this.overlay, from, to, limit);
  }

  async apply(all: readonly VersionedRecord[], source: ApplySource): Promise<ApplyResult> {
    this.refuseWhileStorageFails();
    const records = this.refuseAhead(all, source);
    const refusedAhead = all.length - records.length;
    const ops: WriteOp[] = [];
    const entries: Batch['entries'] = [];
    const losers: Promise<void>[] = [];
    let applied = 0;
    let purged = 0;
    let heldAhead: Set<VersionedRecord> | undefined;
    const aheadOf = this.heldAheadCheck(source);
    for (const r of records) {
      const token = tokenOf(r.key);
      if (this.underPurgeBound(r, source, token)) {
        purged += 1;
        continue;
      }
      const skey = recordKey(token, r.key);
      const lkey = toLatin1(skey);
      const current = this.readAt(lkey, skey, r.key);
      if (!supersedes(r, current)) {
        if (current !== undefined && aheadOf?.(current) === true) {
          heldAhead ??= new Set();
          heldAhead.add(r);
        }
        // Ignored in favour of a version not yet committed: answer only once that version is durable, or a
        // crash could lose both while the sender believes this replica holds one of them.
        const pending = this.overlay.get(lkey)?.committed;
        if (pending !== undefined) losers.push(pending);
        continue;
      }
      applied += 1;
      entries.push(this.stage(lkey, token, current?.fp ?? null, r));
      ops.push({ key: skey, value: encodeRecordValue(r) });
      if (current?.tombstone) ops.push({ key: tombstoneKey(current.version.ms, token, r.key), value: null });
      if (r.tombstone) ops.push({ key: tombstoneKey(r.version.ms, token, r.key), value: new Uint8Array(0) });
    }
    this.counts.applied += applied;
    this.counts.ignored += records.length - applied;
    this.counts.bySource.set(source, (this.counts.bySource.get(source) ?? 0) + applied);
    if (ops.length > 0) await this.enqueue(ops, entries);
    if (losers.length > 0) await Promise.all(losers);
    return {
      applied,
      ignored: records.length - applied,
      ...(refusedAhead > 0 ? { refusedAhead } : {}),
      ...(purged > 0 ? { purged } : {}),
      ...(heldAhead === undefined ? {} : { heldAhead }),
    };
  }

  /**
   * For writes that are acknowledged (client, replication, hints): whether a stored version is stamped beyond
   * the clock bound. The other paths acknowledge nothing to a client and need no check.
   */
  private heldAheadCheck(source: ApplySource): ((current: VersionedRecord) => boolean) | undefined {
    const clock = this.options.clock;
    if (clock === undefined || !acknowledgedSources.has(source)) return undefined;
    const nowMs = clock.now();
    const driftMs = this.options.maxClockDriftMs ?? maxClockDriftMsDefault;
    return (current) => isAheadOfClock(current.version, nowMs, driftMs);
  }

  /** The records within the clock bound; the others are counted and reported, never stored. */
  private refuseAhead(records: readonly VersionedRecord[], source: ApplySource): readonly VersionedRecord[] {
    const clock = this.options.clock;
    if (clock === undefined) return records;
    const nowMs = clock.now();
    const driftMs = this.options.maxClockDriftMs ?? maxClockDriftMsDefault;
    if (!records.some((r) => isAheadOfClock(r.version, nowMs, driftMs))) return records;
    const kept: VersionedRecord[] = [];
    for (const r of records) {
      if (!isAheadOfClock(r.version, nowMs, driftMs)) {
        kept.push(r);
        continue;
      }
      this.counts.refusedAhead.set(source, (this.counts.refusedAhead.get(source) ?? 0) + 1);
      this.onRefusedAhead?.(r, source, nowMs);
    }
    return kept;
  }

  /**
   * Follows the purge bound that anti-entropy proves (it calls this once, when it starts): from then on every
   * apply enforces it.
   */
  followPurgeBound(boundOf: PurgeBoundOf): void {
    this.purgeBoundOf = boundOf;
  }

  /** The purge bound of the partition `token` falls in. */
  purgedBeforeMs(token: Uint8Array): number {
    return this.purgeBoundOf(token);
  }

  /**
   * The one rule of the purge bound, per source. A tombstone older than the bound is garbage on every replica:
   * it is never written again, whoever brings it. Hints, replication and read repair bring nothing older than
   * the bound at all (a value that old was deleted and purged, or is a straggler anti-entropy settles).
   * A client's write and a bulk load are stamped now, so the bound never applies to them here: the
   * coordinator refuses to stamp a client write under it (ConvergeNode's stamp: a clock gone back).
   */
  underPurgeBound(
    record: Pick<VersionedRecord, 'key' | 'tombstone' | 'version'>,
    source: ApplySource,
    token = tokenOf(record.key),
  ): boolean {
    if (source === 'client' || source === 'bulk') return false;
    const boundMs = this.purgeBoundOf(token);
    if (record.version.ms >= boundMs) return false;
    return source !== 'anti-entropy' || record.tombstone;
  }

  /** Records refused so far for being stamped too far ahead of this node's clock, by source. */
  refusedAheadCounts(): Record<string, number> {
    return Object.fromEntries(this.counts.refusedAhead);
  }

  /**
   * The counters a preparing thread reads (prepared.ts), in memory it can share; counting starts with the
   * first call.
   */
  shareWriteEpochs(): Uint32Array {
    this.writeEpochs ??= new Uint32Array(new SharedArrayBuffer(4 * writeEpochBuckets));
    return this.writeEpochs;
  }

  /**
   * Stages and writes the winners a preparing thread found against its snapshot of storage. A record whose
   * key changed since that snapshot (its epoch moved, or a change is still pending) is merged again here, the
   * ordinary way. The purge bound is checked here, as for every apply: it may have moved since the thread
   * looked (records under it count as ignored and purged).
   */
  async applyPrepared(prepared: PreparedRecords, source: ApplySource): Promise<ApplyResult> {
    this.refuseWhileStorageFails();
    const epochs = this.writeEpochs;
    const ready: Array<{ p: PreparedRecord; lkey: string }> = [];
    const again: VersionedRecord[] = [];
    // Checked before any is staged: staging raises epochs, and two records of this batch may share a bucket.
    const seen = new Set<string>();
    let dropped = 0;
    let refusedAhead = 0;
    for (const p of readPrepared(prepared)) {
      if (this.underPurgeBound(p.record, source, p.token)) {
        dropped += 1;
        continue;
      }
      // The worker merged against storage only: the clock bound is checked here, as for every apply.
      if (this.refuseAhead([p.record], source).length === 0) {
        refusedAhead += 1;
        continue;
      }
      const lkey = toLatin1(p.skey);
      const changed =
        epochs === null ||
        this.overlay.has(lkey) ||
        Atomics.load(epochs, writeEpochBucket(p.token)) !== p.epoch;
      // A key listed twice was decided twice against the same stored version: only the first decision holds.
      if (changed || seen.has(lkey)) again.push(p.record);
      else ready.push({ p, lkey });
      seen.add(lkey);
    }
    const ops: WriteOp[] = [];
    const entries: Batch['entries'] = [];
    for (const { p, lkey } of ready) {
      entries.push(this.stage(lkey, p.token, p.stored?.fp ?? null, p.record));
      ops.push({ key: p.skey, value: p.value });
      const key = p.record.key;
      if (p.stored?.tombstone) ops.push({ key: tombstoneKey(p.stored.ms, p.token, key), value: null });
      if (p.record.tombstone)
        ops.push({ key: tombstoneKey(p.record.version.ms, p.token, key), value: new Uint8Array(0) });
    }
    this.counts.applied += ready.length;
    this.counts.ignored += prepared.losers + dropped;
    this.counts.mergedAgain += again.length;
    this.counts.bySource.set(source, (this.counts.bySource.get(source) ?? 0) + ready.length);
    const written = ops.length > 0 ? this.enqueue(ops, entries) : undefined;
    const merged: ApplyResult =
      again.length > 0 ? await this.apply(again, source) : { applied: 0, ignored: 0 };
    await written;
    refusedAhead += merged.refusedAhead ?? 0;
    const purged = dropped + (merged.purged ?? 0);
    return {
      applied: ready.length + merged.applied,
      ignored: prepared.losers + dropped + merged.ignored,
      ...(refusedAhead > 0 ? { refusedAhead } : {}),
      ...(purged > 0 ? { purged } : {}),
    };
  }

  /**
   * Removes records outright (purged tombstones, rotten records). Only the listed version is removed: if the
   * key changed meanwhile, the newer record stays.
   */
  async remove(targets: ReadonlyArray<{ key: Uint8Array; expected: VersionedRecord }>): Promise<number> {
    this.refuseWhileStorageFails();
    const ops: WriteOp[] = [];
    const entries: Batch['entries'] = [];
    for (const { key, expected } of targets) {
      const token = tokenOf(key);
      const skey = recordKey(token, key);
      const lkey = toLatin1(skey);
      const current = this.readAt(lkey, skey, key);
      if (current === undefined || current.fp[0] !== expected.fp[0] || current.fp[1] !== expected.fp[1])
        continue;
      entries.push(this.stage(lkey, token, current.fp, null));
      ops.push({ key: skey, value: null });
      if (current.tombstone) ops.push({ key: tombstoneKey(current.version.ms, token, key), value: null });
    }
    if (ops.length > 0) await this.enqueue(ops, entries);
    return entries.length;
  }

  purgeTombstones(beforeMs: number, limit: number, filter?: PurgeFilter): Promise<number> {
    return purgeTombstones(this, beforeMs, limit, filter);
  }

  verifyLeaf(leaf: number): VerifyLeafResult {
    return verifyLeaf(this, leaf);
  }

  /** The storage space where the node keeps its hints (they are not records: no digest, no merge). */
  hintSpace(): StorageSpace {
    return prefixedSpace(this.storage, hintPrefix);
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.storage.get(metaKey(name));
  }

  putMeta(name: string, value: Uint8Array): Promise<void> {
    return this.storage.write([{ key: metaKey(name), value }]);
  }

  deleteMeta(name: string): Promise<void> {
    return this.storage.write([{ key: metaKey(name), value: null }]);
  }

  /**
   * `mergedAgain`: prepared records merged again on the event loop, their key having changed since the
   * snapshot.
   */
  stats(): {
    applied: number;
    ignored: number;
    mergedAgain: number;
    bySource: Record<string, number>;
    pending: number;
  } {
    return {
      applied: this.counts.applied,
      ignored: this.counts.ignored,
      mergedAgain: this.counts.mergedAgain,
      bySource: Object.fromEntries(this.counts.bySource),
      pending: this.overlay.size,
    };
  }

  /** Records applied so far that came from `source`. */
  appliedFrom(source: ApplySource): number {
    return this.counts.bySource.get(source) ?? 0;
  }

  /** Waits until every accepted apply has reached storage. */
  async flush(): Promise<void> {
    for (
      let batch = this.next ?? this.writing[0];
      batch !== undefined;
      batch = this.next ?? this.writing[0]
    ) {
      await batch.done.catch(logFailure('apply batch awaited by flush', 'debug'));
    }
  }

  /** Reads a record through the pending overlay. */
  read(skey: Uint8Array, key: Uint8Array): VersionedRecord | undefined {
    return this.readAt(toLatin1(skey), skey, key);
  }

  private readAt(lkey: string, skey: Uint8Array, key: Uint8Array): VersionedRecord | undefined {
    const pending = this.overlay.get(lkey);
    if (pending !== undefined) return pending.record ?? undefined;
    const stored = this.storage.get(skey);
    return stored === undefined ? undefined : decodeRecordValue(key.slice(), stored);
  }

  /**
   * While the storage refuses writes (a full disk, until its next retry) nothing is staged: a staged change
   * that then fails costs every queued apply and a digest rebuild, and a client hammering a full disk would
   * cause one of those per request.
   */
  private refuseWhileStorageFails(): void {
    const refusal = writeRefusal(this.storage);
    if (refusal !== undefined) throw refusal;
    if (this.settling !== null)
      throw new ConvergeError(
        'STORAGE_FAILED',
        'a storage write failed; the writes begun beside it are settling',
      );
  }

  /** Records a change in the overlay and the digest, synchronously, before the write is queued. */
  private stage(
    lkey: string,
    token: Uint8Array,
    currentFp: Hash64 | null,
    next: VersionedRecord | null,
  ): { lkey: string; entry: OverlayEntry } {
    const entry: OverlayEntry = { token, record: next };
    this.overlay.set(lkey, entry);
    if (this.writeEpochs !== null) Atomics.add(this.writeEpochs, writeEpochBucket(token), 1);
    if (this.rebuildCursor === null || lkey < this.rebuildCursor) {
      this.updateDigest(token, currentFp, next?.fp ?? null);
      const fp = next?.fp ?? null;
      updateSymbols(this.symbols, this.partitionSymbols, token, currentFp, fp);
      const shadow = this.symbolShadow;
      if (shadow !== null && this.digest.leafOf(token) < shadow.leafEnd) {
        updateSymbols(shadow.symbols, shadow.partitions, token, currentFp, fp);
      }
    }
    return { lkey, entry };
  }

  /**
   * The digest update, asserted in pairs: the record storage (or the overlay) holds must already be counted in
   * its leaf (what was written before is what the digest says now), and the leaf must move by exactly this
   * change's count and XOR delta. Two reads of one leaf: cheap enough to stay on in production.
   */
  private updateDigest(token: Uint8Array, oldFp: Hash64 | null, newFp: Hash64 | null): void {
    const digest = this.digest;
    const leaf = digest.leafOf(token);
    const before = digest.node(digest.leafBits, leaf);
    // The messages are built only on failure: this runs once per record written.
    if (oldFp !== null && before.count === 0)
      assert(false, `a stored record is counted in digest leaf ${leaf}`);
    digest.updateLeaf(leaf, oldFp, newFp);
    const after = digest.node(digest.leafBits, leaf);
    const dcount = (newFp === null ? 0 : 1) - (oldFp === null ? 0 : 1);
    const xhi = ((oldFp?.[0] ?? 0) ^ (newFp?.[0] ?? 0)) >>> 0;
    const xlo = ((oldFp?.[1] ?? 0) ^ (newFp?.[1] ?? 0)) >>> 0;
    const moved =
      after.count === before.count + dcount &&
      after.hi >>> 0 === (before.hi ^ xhi) >>> 0 &&
      after.lo >>> 0 === (before.lo ^ xlo) >>> 0;
    if (!moved) assert(false, `digest leaf ${leaf} moved by exactly the staged change`);
  }

  private enqueue(ops: WriteOp[], entries: Batch['entries']): Promise<void> {
    if (this.next === null) this.next = newBatch();
    this.next.ops.push(...ops);
    this.next.entries.push(...entries);
    const { done } = this.next;
    for (const { entry } of entries) entry.committed = done;
    this.pump();
    return done;
  }

  private pump(): void {
    const max = this.options.storageWritesInFlightMax ?? storageWritesInFlightMaxDefault;
    if (this.next === null || this.writing.length >= max || this.settling !== null) return;
    const batch = this.next;
    this.next = null;
    this.writing.push(batch);
    const generation = this.writeGeneration;
    // Storage commits writes in the order they begin; each resolves once its own batch is durable.
    batch.written = this.storage.write(batch.ops).then(
      () => {
        if (generation === this.writeGeneration) this.written(batch);
      },
      (err: unknown) => {
        if (generation === this.writeGeneration) this.failAll(err);
      },
    );
  }

  private written(batch: Batch): void {
    const epochs = this.writeEpochs;
    for (const { lkey, entry } of batch.entries) {
      // Committed: a snapshot taken before this moment does not hold it.
      if (epochs !== null) Atomics.add(epochs, writeEpochBucket(entry.token), 1);
      if (this.overlay.get(lkey) === entry) this.overlay.delete(lkey);
    }
    this.writing.splice(this.writing.indexOf(batch), 1);
    batch.resolve();
    this.pump();
  }

  /**
   * A failed storage write fails every queued and in-flight apply too (they were merged against the failed
   * state); the overlay is dropped and the digest rebuilt from storage, so digest == storage holds again.
   * Writes begun beside the failed one may still land: until they settle applies are refused and the digest
   * is not ready, and once they have it is rebuilt.
   */
  private failAll(err: unknown): void {
    this.writeGeneration += 1;
    const failed = this.writing.splice(0);
    if (this.next !== null) failed.push(this.next);
    this.next = null;
    this.overlay.clear();
    // Every pending change is dropped: no decision made against an earlier snapshot may stand.
    if (this.writeEpochs !== null)
      for (let b = 0; b < writeEpochBuckets; b++) Atomics.add(this.writeEpochs, b, 1);
    const error = err instanceof ConvergeError ? err : new ConvergeError('STORAGE_FAILED', String(err));
    for (const batch of failed) batch.reject(error);
    const stragglers = failed.flatMap((b) => (b.written === undefined ? [] : [b.written]));
    if (stragglers.length <= 1) {
      void this.rebuild(); // only the failed write itself, which has settled: storage holds still
      return;
    }
    // The stragglers may still land, each whenever storage gets to it: a digest rebuilt now would miss
    // them while claiming to be ready. It stays not ready (nothing counted) until they have all settled.
    this.forgetDigest();
    this.settling = Promise.allSettled(stragglers).then(() => {
      this.settling = null;
      void this.rebuild();
    });
  }
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(logFailure('apply batch', 'debug')); // callers observe it through enqueue's return value
  return { ops: [], entries: [], done, resolve, reject };
}

export async function openReplica(options: ReplicaOptions): Promise<LocalReplica> {
  const replica = new LocalReplica(options);
  void replica.rebuild();
  return replica;
}
