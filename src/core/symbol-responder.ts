// The responder side of the symbol path, stateless like the tree responder: it subtracts its own coded
// symbols from the initiator's prefix and peels. Decoded: it answers with the difference (headers of its own
// records, the initiator's items). Not decoded: it sizes the difference (parity sketch, empty symbols) and
// answers with its own symbols for the initiator to decode, or says the replicas are too different for the
// symbol path.

import { ConvergeError } from './errors.js';
import type { ReplicaReader } from './reconcile-types.js';
import { type DiffItem, estimateItems, peel, subtractSymbols } from './riblt-decode.js';
import type { SymbolSource, TokenRecord } from './symbol-shared.js';
import {
  estimateFromSketch,
  paritySketch,
  recordsAt,
  rootOf,
  splitItems,
  symbolSource,
  symbolsFor,
  tokenLo,
} from './symbol-shared.js';
import {
  decodeItemHeadersRequest,
  decodeSymbolRequest,
  encodeItemHeadersResponse,
  encodeSymbolResponse,
  goneHeader,
  type ItemHeader,
  itemsPerMessageMax,
  noSketch,
  type RemoteEntry,
  type SymbolRequest,
  type SymbolResponse,
  symbolsPerMessageMax,
} from './wire-symbols.js';

export interface SymbolResponderLimits {
  /** Symbols sent for a difference the sketch cannot size (its parities all look flipped). */
  readonly unsizedSymbols: number;
  /** Margin on the estimated symbol count (estimates err both ways; too few costs a round trip). */
  readonly overshoot: number;
  /** How much deeper than the probe's the sketch sent with an unsized batch is (16 times more nodes). */
  readonly deeperLevels: number;
}

export const symbolResponderLimitsDefault: SymbolResponderLimits = {
  unsizedSymbols: 8192,
  overshoot: 1.08,
  deeperLevels: 4,
};

type Reader = ReplicaReader;

/** Answers a symbol request (probe or more symbols), over the whole keyspace or the request's scope. */
export function respondSymbols(
  reader: Reader,
  bytes: Uint8Array,
  limits = symbolResponderLimitsDefault,
): Uint8Array {
  const req = decodeSymbolRequest(bytes);
  const own = symbolSource(reader, req.scope);
  if (typeof own === 'string') {
    if (req.scope === undefined) {
      return encodeSymbolResponse({ kind: 'too-different', root: rootOf(reader.digest), estimate: 0 });
    }
    // A scope this replica cannot sum (no per-partition symbols, another partition count): the initiator
    // takes it as a refusal of the path and descends the tree.
    throw new ConvergeError('PROTOCOL_INVALID', `cannot answer a scoped symbol request: ${own}`);
  }
  const root = own.root();
  if (req.kind === 'more') {
    const to = Math.min(req.to, own.size);
    const from = Math.min(req.from, to);
    return encodeSymbolResponse({
      kind: 'symbols',
      root,
      estimate: 0,
      sketch: noSketch,
      from,
      symbols: own.triples(from, to),
    });
  }
  return encodeSymbolResponse(answerProbe(reader, own, req, limits));
}

function answerProbe(
  reader: Reader,
  own: SymbolSource,
  req: Extract<SymbolRequest, { kind: 'probe' }>,
  limits: SymbolResponderLimits,
): SymbolResponse {
  const root = own.root();
  const k = Math.min(req.symbols.length / 3, own.size);
  const diff = subtractSymbols(req.symbols.subarray(0, 3 * k), own.triples(0, k));
  // Sized (if it does not decode) before peeling, while the differing items are spread at random.
  const unpeeled = diff.slice();
  const peeled = peel(diff);
  const inScope = peeled.complete && peeled.items.every((item) => own.covers(item[0]));
  if (inScope && peeled.items.length <= itemsPerMessageMax) {
    const decoded = describeDecoded(reader, req.root.count - root.count, peeled.items);
    if (decoded !== undefined) return { kind: 'decoded', root, ...decoded };
  }
  // Every record one side has beyond the other's count is a differing item: a floor under any estimate.
  const floor = Math.abs(req.root.count - root.count);
  if (symbolsFor(floor, 1) > own.size) return { kind: 'too-different', root, estimate: floor };
  const fromSymbols = estimateItems(unpeeled);
  const fromSketch = 2 * estimateFromSketch(reader.digest, req.sketch, req.salt, req.scope);
  // Empty symbols size small differences well; the sketch sizes larger ones.
  const sized = Number.isFinite(fromSymbols) && fromSymbols < k ? fromSymbols : fromSketch;
  const limit = Math.min(own.size, symbolsPerMessageMax);
  if (!Number.isFinite(sized)) {
    // Too many changes for the probe's sketch: a first batch, and parities of a deeper level to size the
    // rest (over the same scope's nodes, for a scoped probe).
    const level = req.sketch.level + limits.deeperLevels;
    const sketch = paritySketch(reader.digest, level, req.sketch.bits, req.salt, req.scope);
    const to = Math.min(limit, Math.max(k, limits.unsizedSymbols));
    return { kind: 'symbols', root, estimate: 0, sketch, from: 0, symbols: own.triples(0, to) };
  }
  const items = Math.max(sized, floor);
  const need = symbolsFor(items, limits.overshoot);
  if (need > own.size) return { kind: 'too-different', root, estimate: Math.round(items) };
  const to = Math.min(limit, Math.max(need, k));
  return {
    kind: 'symbols',
    root,
    estimate: Math.round(items),
    sketch: noSketch,
    from: 0,
    symbols: own.triples(0, to),
  };
}

/**
 * The answer for a decoded difference: headers of this replica's items, and the initiator's items except
 * those sharing a token prefix with one of ours (the initiator finds those itself, by the full token we
 * send). Undefined if the split contradicts the record counts (a write raced the probe).
 */
function describeDecoded(
  reader: Reader,
  countDifference: number,
  items: readonly DiffItem[],
): { remote: RemoteEntry[]; initiator: DiffItem[] } | undefined {
  const { own: mine, theirs } = splitItems(reader, items);
  if (countDifference !== theirs.length - mine.length) return undefined;
  const theirPrefixes = new Set(theirs.map((item) => item[0]));
  const ourPrefixes = new Set(mine.map(({ item }) => item[0]));
  const remote = mine.map(({ item, entry }) => ({
    item,
    header: headerOf(entry, theirPrefixes.has(item[0])),
  }));
  return { remote, initiator: theirs.filter((item) => !ourPrefixes.has(item[0])) };
}

/** The header of a record this replica holds; the key is left out when the asker holds that token prefix. */
function headerOf(entry: TokenRecord, keyKnown: boolean): ItemHeader {
  const r = entry.record;
  return {
    gone: false,
    tokenLo: tokenLo(entry.token),
    key: keyKnown ? undefined : r.key,
    version: r.version,
    tombstone: r.tombstone,
    fpHi: r.fp[0],
    fpLo: r.fp[1],
  };
}

/**
 * Headers of the records the items name. A record changed since its item was decoded is described as it is
 * now when it is the only one under its token prefix (repair wants the current record); otherwise gone.
 */
export function respondItemHeaders(reader: Pick<ReplicaReader, 'scanTokens'>, bytes: Uint8Array): Uint8Array {
  const req = decodeItemHeadersRequest(bytes);
  const headers = req.items.map((item, i) => {
    // One storage read per item: the exact record, or else the only one under its prefix.
    const all = recordsAt(reader, item[0]);
    const exact = all.find((e) => e.record.fp[0] === item[1]);
    if (exact !== undefined) return headerOf(exact, req.keyKnown[i]!);
    return all.length === 1 ? headerOf(all[0]!, false) : goneHeader;
  });
  return encodeItemHeadersResponse(req.items, headers);
}
