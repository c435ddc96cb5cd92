// A replica held in plain memory, for property tests and the simulation's quick checks: a map of records, a
// token-sorted index and a digest kept in step by `apply` (which merges like the real replica).

import { DigestTree } from './digest.js';
import { tokenOf } from './hash.js';
import { PartitionSymbols, updateSymbols } from './partition-symbols.js';
import type { ReplicaReader } from './reconcile-types.js';
import { supersedes, type VersionedRecord } from './record.js';
import { CodedSymbols } from './riblt.js';

const id = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

export class MemoryReplica implements ReplicaReader {
  readonly digest: DigestTree;
  readonly symbols: CodedSymbols | undefined;
  readonly partitionSymbols: PartitionSymbols | undefined;
  private readonly records = new Map<string, { token: Uint8Array; record: VersionedRecord }>();
  private sorted: string[] | null = null;

  /**
   * `symbolsMax`: keep that many coded symbols beside the digest (0: none); `partitions`: also keep `size`
   * symbols for each of 2^bits partitions.
   */
  constructor(
    leafBits: number,
    symbolsMax = 0,
    partitions?: { readonly bits: number; readonly size: number },
  ) {
    this.digest = new DigestTree(leafBits);
    this.symbols = symbolsMax > 0 ? new CodedSymbols(symbolsMax) : undefined;
    this.partitionSymbols =
      partitions === undefined ? undefined : new PartitionSymbols(partitions.bits, partitions.size);
  }

  get(key: Uint8Array): VersionedRecord | undefined {
    return this.records.get(id(key))?.record;
  }

  /** Merges records in; returns how many replaced the stored one. */
  apply(records: readonly VersionedRecord[]): { applied: number; ignored: number } {
    let applied = 0;
    for (const r of records) {
      const k = id(r.key);
      const cur = this.records.get(k);
      if (!supersedes(r, cur?.record)) continue;
      const token = cur?.token ?? tokenOf(r.key);
      this.digest.update(token, cur?.record.fp ?? null, r.fp);
      updateSymbols(this.symbols, this.partitionSymbols, token, cur?.record.fp ?? null, r.fp);
      if (cur === undefined) this.sorted = null;
      this.records.set(k, { token, record: r });
      applied += 1;
    }
    return { applied, ignored: records.length - applied };
  }

  all(): VersionedRecord[] {
    return [...this.records.values()].map((e) => e.record);
  }

  *scanTokens(
    start: Uint8Array,
    end: Uint8Array | undefined,
    limit = Number.POSITIVE_INFINITY,
  ): Iterable<{ token: Uint8Array; record: VersionedRecord }> {
    if (this.sorted === null) {
      this.sorted = [...this.records.keys()].sort((a, b) => {
        const ka = id(this.records.get(a)!.token) + a;
        const kb = id(this.records.get(b)!.token) + b;
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
    }
    const lo = id(start);
    const hi = end === undefined ? undefined : id(end);
    let n = 0;
    for (const k of this.sorted) {
      const e = this.records.get(k)!;
      const t = id(e.token);
      if (t < lo) continue;
      if (hi !== undefined && t >= hi) break;
      if (n++ >= limit) return;
      yield e;
    }
  }
}
