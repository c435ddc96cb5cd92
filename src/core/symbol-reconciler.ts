// The initiator side of the symbol path: a probe (a prefix of this replica's coded symbols and a parity
// sketch of its digest), then, when the peer could not decode it, the peer's symbols until this side decodes,
// then the headers of the peer's differing records. Ends decoded (the exact difference, checked against both
// digest roots) or falling back to the tree descent, keeping every difference it already found.

import { assert } from './errors.js';
import type { Difference, ReplicaReader } from './reconcile-types.js';
import { type DiffItem, estimateItems, peel, subtractSymbols } from './riblt-decode.js';
import {
  estimateFromSketch,
  paritySketch,
  recordsAt,
  type SymbolSource,
  scopedSketchLevel,
  splitItems,
  symbolSource,
  symbolsFor,
  type TokenRecord,
  tokenLo,
} from './symbol-shared.js';
import {
  decodeItemHeadersResponse,
  decodeSymbolResponse,
  encodeItemHeadersRequest,
  encodeSymbolRequest,
  type ItemHeader,
  itemHeadersPerRequestMax,
  type SymbolRoot,
  type SymbolScope,
  symbolsPerMessageMax,
} from './wire-symbols.js';

export interface SymbolPathOptions {
  readonly salt: number;
  /** Symbols in the probe: enough to decode about 15 changed keys in the first round trip. */
  readonly probeSymbols: number;
  /** Digest level of the parity sketch, and how many of its nodes it covers (one bit each). */
  readonly sketchLevel: number;
  readonly sketchBits: number;
  /** Margin on the symbols asked for once a prefix did not decode. */
  readonly overshoot: number;
  /** The partitions of a scoped session (RF < N); absent, the whole keyspace. */
  readonly scope?: SymbolScope | undefined;
}

export const symbolPathOptionsDefault: Omit<SymbolPathOptions, 'salt'> = {
  probeSymbols: 48,
  sketchLevel: 10,
  sketchBits: 896,
  overshoot: 1.05,
};

export interface SymbolPathStats {
  roundTrips: number;
  bytesSent: number;
  bytesReceived: number;
  /** Symbols received from the peer (beyond the probe this side sent). */
  symbolsReceived: number;
  /** Differing items the path found (a changed key counts twice: one item on each side). */
  items: number;
  /** The difference's size in items as last estimated (0 when it decoded before any estimate). */
  estimate: number;
}

export type SymbolPathOutcome =
  | { readonly kind: 'decoded' }
  /** The differences found are real but may be incomplete: the tree descent runs after their repair. */
  | { readonly kind: 'fallback'; readonly reason: string };

type State =
  | { readonly step: 'probe' }
  | { readonly step: 'symbols'; readonly from: number; readonly to: number }
  | { readonly step: 'headers'; readonly items: DiffItem[] }
  | { readonly step: 'done' };

export class SymbolReconciler {
  readonly stats: SymbolPathStats = {
    roundTrips: 0,
    bytesSent: 0,
    bytesReceived: 0,
    symbolsReceived: 0,
    items: 0,
    estimate: 0,
  };
  outcome: SymbolPathOutcome | null = null;
  /** Every difference found so far, whatever the outcome. */
  readonly differences: Difference[] = [];
  private state: State = { step: 'probe' };
  /**
   * This replica's live symbols, never copied (a copy of the default 1 MiB cost a small session more than the
   * rest of its work): each decode reads the prefix it needs and the root together, in one synchronous step,
   * so the two always describe the same records; writes between steps only make the final checks fail.
   */
  private readonly mine: SymbolSource;
  /** The root as of the probe, then as of the last decode of the peer's symbols. */
  private root: SymbolRoot;
  private theirRoot: SymbolRoot | undefined;
  private theirs = new Uint32Array(0);
  /** This replica's items of a decoded difference, waiting for the peer's headers. */
  private ownItems: Array<{ item: DiffItem; entry: TokenRecord }> = [];
  /** Token prefixes under which this replica held records when the decoded items were split. */
  private held = new Set<number>();
  private ownKeys: Map<string, Uint8Array> | undefined;
  /** The difference's size in items from the peer's deeper sketch, when it sent one. */
  private sized = 0;

  constructor(
    private readonly reader: ReplicaReader,
    private readonly options: SymbolPathOptions,
  ) {
    const source = symbolSource(reader, options.scope);
    assert(typeof source !== 'string', 'the symbol path needs maintained symbols');
    this.mine = source;
    this.root = source.root();
  }

  get done(): boolean {
    return this.outcome !== null;
  }

  nextRequest(): Uint8Array | null {
    const s = this.state;
    let bytes: Uint8Array;
    if (s.step === 'done') return null;
    if (s.step === 'probe') {
      const { salt, sketchLevel, sketchBits, scope } = this.options;
      this.root = this.mine.root();
      bytes = encodeSymbolRequest({
        kind: 'probe',
        salt,
        scope,
        root: this.root,
        // A scoped sketch covers the scope's nodes only, at the deepest level where they fit in its bits.
        sketch: paritySketch(
          this.reader.digest,
          scope === undefined ? sketchLevel : scopedSketchLevel(this.reader.digest, scope, sketchBits),
          sketchBits,
          salt,
          scope,
        ),
        symbols: this.mine.triples(0, Math.min(this.options.probeSymbols, this.mine.size)),
      });
    } else if (s.step === 'symbols') {
      bytes = encodeSymbolRequest({ kind: 'more', from: s.from, to: s.to, scope: this.options.scope });
    } else {
      // The split that found these items read their prefixes already: no second storage read.
      const keyKnown = s.items.map((item) => this.held.has(item[0]));
      bytes = encodeItemHeadersRequest({ items: s.items, keyKnown });
    }
    this.stats.bytesSent += bytes.length;
    return bytes;
  }

  onResponse(bytes: Uint8Array): void {
    this.stats.roundTrips += 1;
    this.stats.bytesReceived += bytes.length;
    const s = this.state;
    assert(s.step !== 'done', 'no response expected');
    if (s.step === 'headers') {
      this.onHeaders(s.items, decodeItemHeadersResponse(bytes, s.items));
      return;
    }
    const res = decodeSymbolResponse(bytes);
    this.theirRoot = res.root;
    if (res.kind === 'too-different') {
      this.stats.estimate = res.estimate;
      this.fallBack(`too different: about ${res.estimate} differing items`);
      return;
    }
    if (res.kind === 'decoded') {
      this.onDecoded(res.remote, res.initiator);
      return;
    }
    if (res.estimate > 0) this.stats.estimate = res.estimate;
    if (res.sketch.bits > 0) {
      const keys = estimateFromSketch(this.reader.digest, res.sketch, this.options.salt, this.options.scope);
      if (Number.isFinite(keys)) this.sized = 2 * keys;
    }
    const expected = s.step === 'symbols' ? s.from : 0;
    if (res.from !== expected) {
      this.fallBack(`the peer sent symbols from ${res.from}, not ${expected}`);
      return;
    }
    const next = new Uint32Array(this.theirs.length + res.symbols.length);
    next.set(this.theirs);
    next.set(res.symbols, this.theirs.length);
    this.theirs = next;
    this.stats.symbolsReceived += res.symbols.length / 3;
    this.decodeTheirs(s.step === 'symbols' && res.symbols.length / 3 < s.to - s.from);
  }

  /** Peels this side's prefix against the peer's; on failure asks for more, or falls back. */
  private decodeTheirs(peerExhausted: boolean): void {
    const k = Math.min(this.theirs.length / 3, this.mine.size);
    this.root = this.mine.root();
    const diff = subtractSymbols(this.mine.triples(0, k), this.theirs.subarray(0, 3 * k));
    const unpeeled = diff.slice();
    const peeled = peel(diff);
    if (peeled.complete && !peeled.items.every((item) => this.mine.covers(item[0]))) {
      this.fallBack('decoded an item outside the session scope');
      return;
    }
    if (peeled.complete) {
      const { own, theirs, held } = splitItems(this.reader, peeled.items);
      this.held = held;
      this.stats.items = peeled.items.length;
      if (this.root.count - this.theirRoot!.count !== own.length - theirs.length) {
        this.fallBack('decoded items disagree with the record counts (a write raced the session)');
        return;
      }
      this.ownItems = own;
      if (theirs.length === 0) {
        this.finish([]);
        return;
      }
      if (theirs.length > itemHeadersPerRequestMax) {
        this.fallBack('more differing items than one header request holds');
        return;
      }
      this.state = { step: 'headers', items: theirs };
      return;
    }
    const fromSymbols = estimateItems(unpeeled);
    const limit = Math.min(this.mine.size, k + symbolsPerMessageMax);
    if (peerExhausted || k >= this.mine.size) {
      this.fallBack(`no decode within ${k} symbols`);
      return;
    }
    // The prefix's empty symbols size the difference once it is long enough; before, the peer's sketch does.
    const items = Math.max(Number.isFinite(fromSymbols) && fromSymbols < k ? fromSymbols : 2 * k, this.sized);
    this.stats.estimate = Math.round(items);
    const need = symbolsFor(items, this.options.overshoot);
    if (need > this.mine.size) {
      this.fallBack(`too different: about ${Math.round(items)} differing items`);
      return;
    }
    this.state = { step: 'symbols', from: k, to: Math.min(limit, Math.max(need, Math.ceil(k * 1.25))) };
  }

  private onDecoded(
    remote: ReadonlyArray<{ item: DiffItem; header: ItemHeader }>,
    initiator: readonly DiffItem[],
  ): void {
    const covered = (item: DiffItem): boolean => this.mine.covers(item[0]);
    if (!initiator.every(covered) || !remote.every((e) => covered(e.item))) {
      this.fallBack('the peer decoded an item outside the session scope');
      return;
    }
    const { own, theirs } = splitItems(this.reader, initiator);
    if (theirs.length > 0) {
      this.fallBack('the peer decoded items this replica does not hold');
      return;
    }
    // Our items sharing a token prefix with one of the peer's were left out: the record under that full
    // token.
    for (const { item, header } of remote) {
      if (header.key !== undefined || header.gone) continue;
      const entry = recordsAt(this.reader, item[0]).find((e) => tokenLo(e.token) === header.tokenLo);
      if (entry === undefined) {
        this.fallBack('a header names a key this replica does not hold');
        return;
      }
      own.push({ item: [item[0], entry.record.fp[0]], entry });
    }
    this.stats.items = remote.length + own.length;
    this.ownItems = own;
    this.finishWith(
      remote.map((e) => e.item),
      remote.map((e) => e.header),
    );
  }

  private onHeaders(items: DiffItem[], headers: ItemHeader[]): void {
    this.finishWith(items, headers);
  }

  /** Pairs this side's records with the peer's headers by key; checks the result against both roots. */
  private finishWith(items: readonly DiffItem[], headers: readonly ItemHeader[]): void {
    const remote: Array<{ key: Uint8Array; header: ItemHeader }> = [];
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!;
      if (h.gone) {
        this.fallBack('a differing record changed on the peer during the session');
        return;
      }
      const key = h.key ?? this.keyAt(items[i]![0], h.tokenLo);
      if (key === undefined) {
        this.fallBack('a header names a key this replica does not hold');
        return;
      }
      remote.push({ key, header: h });
    }
    this.finish(remote);
  }

  private keyAt(hi: number, lo: number): Uint8Array | undefined {
    // Usually one of our own differing records (a key changed on both sides): no storage read.
    this.ownKeys ??= new Map(
      this.ownItems.map(({ entry }) => [`${itemHi(entry)}:${tokenLo(entry.token)}`, entry.record.key]),
    );
    const own = this.ownKeys.get(`${hi}:${lo}`);
    if (own !== undefined) return own;
    return recordsAt(this.reader, hi).find((e) => tokenLo(e.token) === lo)?.record.key;
  }

  private finish(remote: ReadonlyArray<{ key: Uint8Array; header: ItemHeader }>): void {
    const byKey = new Map<string, Extract<Difference, { kind: 'key' }>>();
    let hi = 0;
    let lo = 0;
    for (const { entry } of this.ownItems) {
      const r = entry.record;
      hi ^= r.fp[0];
      lo ^= r.fp[1];
      byKey.set(keyId(r.key), { kind: 'key', key: r.key, local: r, remote: undefined });
    }
    for (const { key, header: h } of remote) {
      hi ^= h.fpHi;
      lo ^= h.fpLo;
      const found = byKey.get(keyId(key));
      const header = { key, version: h.version, tombstone: h.tombstone, fp: [h.fpHi, h.fpLo] as const };
      byKey.set(keyId(key), {
        kind: 'key',
        key,
        local: found?.local ?? this.reader.get(key),
        remote: header,
      });
    }
    this.differences.push(...byKey.values());
    const theirs = this.theirRoot!;
    const agrees = (hi ^ this.root.hi ^ theirs.hi) >>> 0 === 0 && (lo ^ this.root.lo ^ theirs.lo) >>> 0 === 0;
    if (!agrees) {
      this.fallBack('the decoded difference does not account for both digest roots');
      return;
    }
    this.outcome = { kind: 'decoded' };
    this.state = { step: 'done' };
  }

  private fallBack(reason: string): void {
    this.outcome = { kind: 'fallback', reason };
    this.state = { step: 'done' };
  }
}

const keyId = (key: Uint8Array): string => String.fromCharCode(...key);
const itemHi = (entry: TokenRecord): number =>
  ((entry.token[0]! << 24) | (entry.token[1]! << 16) | (entry.token[2]! << 8) | entry.token[3]!) >>> 0;
