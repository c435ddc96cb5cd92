// The initiator side of reconciliation: a state machine that walks the digest tree top-down against a peer,
// a bounded round at a time, and yields exactly the keys on which the two replicas differ. It holds the
// frontier of nodes still to resolve; the frontier is the checkpoint from which a session resumes.

import { prefixRange } from './digest.js';
import { assert } from './errors.js';
import {
  preferEntries,
  type ReconcileLimits,
  reconcileLimitsDefault,
  saltedHash,
} from './reconcile-shared.js';
import type { Difference, ReplicaReader } from './reconcile-types.js';
import type { VersionedRecord } from './record.js';
import {
  childCount,
  decodeRoundResponse,
  encodeRoundRequest,
  entriesPerItemMax,
  type RecordHeader,
  type RequestItem,
  type ResponseResult,
  roundItemsMax,
} from './wire.js';
import { WireReader, WireWriter } from './wire-buffer.js';

export interface ReconcilerOptions extends ReconcileLimits {
  /** Random per session (injected randomness), so hash collisions never repeat across sessions. */
  readonly salt: number;
  /** A round request stops growing past this many bytes. */
  readonly roundBytesMax: number;
  /**
   * A round request stops growing once building it took this long (listing records reads storage), so one
   * round never holds the event loop for long; measured with `busyNow`. The rest goes in the next rounds.
   */
  readonly roundBusyMsMax?: number;
  /** Milliseconds from a monotonic clock; the simulation's virtual clock never advances within a round. */
  readonly busyNow?: () => number;
  /**
   * Reconcile only these subtrees (the partitions two replicas share: topology's `sharedPartitions` at
   * level `partitionBits`) instead of the whole tree. Nothing outside them is compared or reported. Give the
   * same scope to `resume`. Absent: the whole tree from the root, as before partitions.
   */
  readonly scope?: ReconcileScope;
}

/** Digest nodes at one level, ascending; each is compared as a whole subtree. */
export interface ReconcileScope {
  readonly level: number;
  readonly indexes: readonly number[];
}

export const reconcilerOptionsDefault: Omit<ReconcilerOptions, 'salt'> = {
  ...reconcileLimitsDefault,
  roundBytesMax: 2 * 2 ** 20,
};

const noClock = (): number => 0;

type Pending = {
  readonly kind: 'root' | 'node' | 'children' | 'entries';
  readonly level: number;
  readonly index: number;
};

export interface ReconcilerStats {
  roundTrips: number;
  bytesSent: number;
  bytesReceived: number;
  /** Records whose fingerprints were compared in entry lists. */
  keysCompared: number;
  /** Share of the keyspace resolved so far, 0..1. */
  fraction: number;
}

export class Reconciler {
  private queue: Pending[];
  private inFlight: Pending[] = [];
  /**
   * Local records listed in the in-flight ENTRIES items, by node, in the order their fingerprints were sent.
   */
  private sent = new Map<string, VersionedRecord[]>();
  readonly stats: ReconcilerStats;
  private readonly leafBits: number;
  /** The level the walk starts from (0 without a scope): visited levels are branchBits apart from it. */
  private readonly originLevel: number;
  /** Scales a node's share of the keyspace into its share of the scope, so `fraction` ends at 1. */
  private readonly weightScale: number;

  constructor(
    private readonly reader: ReplicaReader,
    private readonly options: ReconcilerOptions,
    resumeFrom?: { queue: Pending[]; stats: ReconcilerStats },
  ) {
    this.leafBits = reader.digest.leafBits;
    const scope = options.scope;
    this.originLevel = scope?.level ?? 0;
    const scoped = scope !== undefined && scope.indexes.length > 0;
    this.weightScale = scoped ? 2 ** scope.level / scope.indexes.length : 1;
    this.queue = resumeFrom?.queue ?? this.startQueue();
    this.stats = resumeFrom?.stats ?? {
      roundTrips: 0,
      bytesSent: 0,
      bytesReceived: 0,
      keysCompared: 0,
      fraction: 0,
    };
  }

  /** The first frontier: the root, or one item per scoped subtree (children; entries at the leaf level). */
  private startQueue(): Pending[] {
    const scope = this.options.scope;
    if (scope === undefined) return [{ kind: 'root', level: 0, index: 0 }];
    const { level, indexes } = scope;
    assert(Number.isInteger(level) && level >= 0 && level <= this.leafBits, 'scope level within the digest');
    indexes.forEach((index, i) => {
      assert(Number.isInteger(index) && index >= 0 && index < 2 ** level, 'scope index in range');
      assert(i === 0 || index > indexes[i - 1]!, 'scope indexes ascending, no repeats');
    });
    if (level === 0) return indexes.map(() => ({ kind: 'root' as const, level: 0, index: 0 }));
    // One subtree hash per scoped node (about 12 bytes each); a leaf's content goes as entries.
    const kind = level === this.leafBits ? ('entries' as const) : ('node' as const);
    return indexes.map((index) => ({ kind, level, index }));
  }

  get done(): boolean {
    return this.queue.length === 0 && this.inFlight.length === 0;
  }

  /** The next round's request, or null when reconciliation is complete. */
  nextRequest(): Uint8Array | null {
    assert(this.inFlight.length === 0, 'one round at a time');
    if (this.queue.length === 0) return null;
    const items: RequestItem[] = [];
    let size = 16;
    const { roundBytesMax, roundBusyMsMax = Number.POSITIVE_INFINITY, busyNow = noClock } = this.options;
    const startedAt = busyNow();
    while (
      this.queue.length > 0 &&
      items.length < roundItemsMax &&
      (items.length === 0 || (size < roundBytesMax && busyNow() - startedAt < roundBusyMsMax))
    ) {
      const p = this.queue.shift()!;
      const item = this.buildItem(p);
      items.push(item);
      this.inFlight.push(p);
      size +=
        item.kind === 'entries'
          ? 8 + 8 * item.fps.length
          : item.kind === 'children'
            ? 6 + 5 * item.children.length
            : 12;
    }
    const bytes = encodeRoundRequest({
      leafBits: this.leafBits,
      branchBits: this.options.branchBits,
      salt: this.options.salt,
      items,
    });
    this.stats.bytesSent += bytes.length;
    return bytes;
  }

  private buildItem(p: Pending): RequestItem {
    const digest = this.reader.digest;
    if (p.kind === 'root') {
      const root = digest.root();
      return {
        kind: 'root',
        level: 0,
        index: 0,
        node: { hash: saltedHash(root, this.options.salt), count: root.count },
      };
    }
    if (p.kind === 'node') {
      const node = digest.node(p.level, p.index);
      const hash = { hash: saltedHash(node, this.options.salt), count: node.count };
      return { kind: 'node', level: p.level, index: p.index, node: hash };
    }
    if (p.kind === 'children') {
      const n = childCount(p.level, this.leafBits, this.options.branchBits);
      const c = Math.log2(n);
      const children = Array.from({ length: n }, (_, j) => {
        const node = digest.node(p.level + c, p.index * n + j);
        return { hash: saltedHash(node, this.options.salt), count: node.count };
      });
      return { kind: 'children', level: p.level, index: p.index, children };
    }
    const records = this.localRecords(p.level, p.index, entriesPerItemMax);
    this.sent.set(nodeId(p.level, p.index), records);
    return { kind: 'entries', level: p.level, index: p.index, fps: records.map((r) => r.fp) };
  }

  /** Consumes the peer's answer to the last request; returns the differences it revealed. */
  onResponse(bytes: Uint8Array): Difference[] {
    const res = decodeRoundResponse(bytes, this.leafBits, this.options.branchBits);
    this.stats.roundTrips += 1;
    this.stats.bytesReceived += bytes.length;
    const answered = this.inFlight.slice(0, Math.min(res.processed, this.inFlight.length));
    // Items the peer had no room for go back to the front of the queue.
    this.queue.unshift(...this.inFlight.slice(answered.length));
    this.inFlight = [];
    const out: Difference[] = [];
    const reported = new Map<string, number>();
    for (const r of res.results) this.handleResult(r, out, reported);
    for (const p of answered) {
      // Children the peer did not report are equal: their share of the keyspace is resolved.
      if (p.kind === 'children')
        this.stats.fraction += this.weight(p.level) - (reported.get(nodeId(p.level, p.index)) ?? 0);
    }
    this.sent.clear();
    return out;
  }

  private handleResult(r: ResponseResult, out: Difference[], reported: Map<string, number>): void {
    const parent = this.parentOf(r.level, r.index);
    if (parent !== undefined) reported.set(parent, (reported.get(parent) ?? 0) + this.weight(r.level));
    switch (r.kind) {
      case 'equal':
        // The root (weight 1), or one scoped subtree.
        this.stats.fraction += this.weight(r.level);
        return;
      case 'children':
        this.expand(r.level, r.index, r.children, out);
        return;
      case 'small':
        if (r.count === 0) this.pushWhole(r.level, r.index, out);
        else this.resolveSmall(r.level, r.index, r.count, out);
        return;
      case 'too-many':
        assert(
          r.level < this.leafBits,
          `leaf ${r.index} holds more than ${entriesPerItemMax} records: raise leafBits`,
        );
        this.queue.push({ kind: 'children', level: r.level, index: r.index });
        return;
      case 'diff':
        this.resolveEntries(r.level, r.index, r.missing, r.headers, out);
        return;
    }
  }

  /** Compares the peer's children of a differing node with ours and queues what differs. */
  private expand(
    level: number,
    index: number,
    theirs: ReadonlyArray<{ hash: number; count: number }>,
    out: Difference[],
  ): void {
    const n = theirs.length;
    const childLevel = level + Math.log2(n);
    for (const [j, t] of theirs.entries()) {
      const childIndex = index * n + j;
      const own = this.reader.digest.node(childLevel, childIndex);
      if (saltedHash(own, this.options.salt) === t.hash && own.count === t.count) {
        this.stats.fraction += this.weight(childLevel);
        continue;
      }
      if (t.count === 0) this.pushWhole(childLevel, childIndex, out);
      else if (own.count === 0) this.pullWhole(childLevel, childIndex, t.count, out);
      else if (preferEntries(childLevel, this.leafBits, this.options, own.count, t.count)) {
        this.queue.push({ kind: 'entries', level: childLevel, index: childIndex });
      } else this.queue.push({ kind: 'children', level: childLevel, index: childIndex });
    }
  }

  /** The peer holds nothing under this node: every local record there is missing on the peer. */
  private pushWhole(level: number, index: number, out: Difference[]): void {
    const records = this.reader.digest.node(level, index).count;
    if (records > 0) out.push({ kind: 'local-range', level, index, records });
    this.stats.fraction += this.weight(level);
  }

  /**
   * The peer answered with its count alone: it holds few records here, or this replica held none when the
   * request was built. Fetch the range whole if that is still so; otherwise compare lists, or descend when
   * writes since then made the list too long for one answer.
   */
  private resolveSmall(level: number, index: number, theirs: number, out: Difference[]): void {
    const own = this.reader.digest.node(level, index).count;
    if (own === 0) this.pullWhole(level, index, theirs, out);
    else if (preferEntries(level, this.leafBits, this.options, own, theirs))
      this.queue.push({ kind: 'entries', level, index });
    else this.queue.push({ kind: 'children', level, index });
  }

  /** This replica holds nothing under this node: every record the peer holds there is missing here. */
  private pullWhole(level: number, index: number, records: number, out: Difference[]): void {
    out.push({ kind: 'remote-range', level, index, records });
    this.stats.fraction += this.weight(level);
  }

  private resolveEntries(
    level: number,
    index: number,
    missing: Uint8Array,
    headers: readonly RecordHeader[],
    out: Difference[],
  ): void {
    const sent = this.sent.get(nodeId(level, index)) ?? [];
    this.stats.keysCompared += sent.length + headers.length;
    const byKey = new Map<
      string,
      { key: Uint8Array; local: VersionedRecord | undefined; remote: RecordHeader | undefined }
    >();
    sent.forEach((record, i) => {
      if ((missing[i >> 3]! & (1 << (i & 7))) !== 0)
        byKey.set(keyId(record.key), { key: record.key, local: record, remote: undefined });
    });
    for (const h of headers) {
      const id = keyId(h.key);
      const entry = byKey.get(id);
      if (entry !== undefined) entry.remote = h;
      // Not among our listed records: we held nothing for this key when the list was sent.
      else byKey.set(id, { key: h.key, local: undefined, remote: h });
    }
    for (const d of byKey.values()) out.push({ kind: 'key', key: d.key, local: d.local, remote: d.remote });
    this.stats.fraction += this.weight(level);
  }

  private localRecords(level: number, index: number, limit: number): VersionedRecord[] {
    const { start, end } = prefixRange(level, index);
    return [...this.reader.scanTokens(start, end, limit)].map((e) => e.record);
  }

  private weight(level: number): number {
    return 2 ** -level * this.weightScale;
  }

  /**
   * Nodes are visited at the origin level plus multiples of branchBits, and at the leaf level; a node's
   * parent is the visited level above.
   */
  private parentOf(level: number, index: number): string | undefined {
    if (level <= this.originLevel) return undefined;
    const b = this.options.branchBits;
    const relative = level - this.originLevel;
    const up = relative % b === 0 ? b : relative % b;
    return nodeId(level - up, index >>> up);
  }

  /** The frontier and counters, to resume after a crash (in-flight items are pending again). */
  checkpoint(): Uint8Array {
    const w = new WireWriter(64);
    const queue = [...this.inFlight, ...this.queue];
    w.u8(1);
    w.u32(queue.length);
    for (const p of queue) {
      w.u8(p.kind === 'root' ? 1 : p.kind === 'children' ? 2 : p.kind === 'entries' ? 3 : 4);
      w.u8(p.level);
      w.u32(p.index);
    }
    const s = this.stats;
    for (const v of [
      s.roundTrips,
      s.bytesSent,
      s.bytesReceived,
      s.keysCompared,
      Math.round(s.fraction * 2 ** 40),
    ])
      w.varuint(v);
    return w.finish();
  }

  static resume(reader: ReplicaReader, options: ReconcilerOptions, checkpoint: Uint8Array): Reconciler {
    const r = new WireReader(checkpoint);
    if (r.u8('checkpoint format') !== 1) throw new Error('unknown checkpoint format');
    const n = r.u32('queue length');
    const queue: Pending[] = [];
    for (let i = 0; i < n; i++) {
      const kind = r.u8('kind');
      queue.push({
        kind: kind === 1 ? 'root' : kind === 2 ? 'children' : kind === 3 ? 'entries' : 'node',
        level: r.u8('level'),
        index: r.u32('index'),
      });
    }
    const [roundTrips, bytesSent, bytesReceived, keysCompared, fraction] = Array.from({ length: 5 }, () =>
      r.varuint('counter', 2 ** 53),
    );
    return new Reconciler(reader, options, {
      queue,
      stats: {
        roundTrips: roundTrips!,
        bytesSent: bytesSent!,
        bytesReceived: bytesReceived!,
        keysCompared: keysCompared!,
        fraction: fraction! / 2 ** 40,
      },
    });
  }
}

const nodeId = (level: number, index: number): string => `${level}/${index}`;
const keyId = (key: Uint8Array): string => String.fromCharCode(...key);
