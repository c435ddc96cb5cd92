// Messages of the symbol path (grammar in docs/protocol.md): a probe carrying a prefix of the initiator's
// coded symbols and a parity sketch of its digest; the responder's answer (the decoded difference, its own
// symbols, or "too different"); requests for more symbols; and item headers. Pure codecs, every length
// bounded.

import { ConvergeError } from './errors.js';
import type { Version } from './hlc.js';
import { partitionRuns } from './topology.js';
import { keyBytesWireMax, readHeader, wireVersion } from './wire.js';
import { invalid, WireReader, WireWriter } from './wire-buffer.js';

export const SymbolMessageType = {
  symbolRequest: 9,
  symbolResponse: 10,
  itemHeadersRequest: 11,
  itemHeadersResponse: 12,
} as const;

/** Symbols in one message: 12 bytes each, so a message stays within wireMessageBytesMax. */
export const symbolsPerMessageMax = 2 ** 20;
/** Items (decoded differences or headers) in one message. */
export const itemsPerMessageMax = 2 ** 18;
/**
 * Items in one item-headers request: each costs the responder a storage lookup, so one answer stays short.
 */
export const itemHeadersPerRequestMax = 32_768;
/** Bits of the parity sketch in a probe. */
export const sketchBitsMax = 2 ** 16;

/** A replica's digest root as the symbol path compares it: the full 64-bit XOR and the record count. */
export interface SymbolRoot {
  readonly hi: number;
  readonly lo: number;
  readonly count: number;
}

/**
 * The partitions a scoped session covers (a ring with RF < N): the symbols, root and items of a scoped
 * message are those of the records in these partitions only. Absent: the whole keyspace.
 */
export interface SymbolScope {
  /** P = 2^partitionBits partitions, numbered by the top bits of a token. */
  readonly partitionBits: number;
  /** Ascending, without repeats. */
  readonly partitions: readonly number[];
}

/** Partition bits a scope may name (the ring's partitionsMax = 2^16). */
export const scopePartitionBitsMax = 16;

export type SymbolRequest =
  | {
      readonly kind: 'probe';
      readonly salt: number;
      readonly scope?: SymbolScope | undefined;
      readonly root: SymbolRoot;
      /** Parities of the initiator's digest nodes, to size a difference its symbols alone cannot. */
      readonly sketch: Sketch;
      /** The initiator's symbols [0, n), as triples. */
      readonly symbols: Uint32Array;
    }
  | {
      readonly kind: 'more';
      readonly from: number;
      readonly to: number;
      readonly scope?: SymbolScope | undefined;
    };

/** What the peer says of one of its records named by an item: enough to plan its repair. */
export interface ItemHeader {
  /** The record changed or went since the item was sent: nothing else is given. */
  readonly gone: boolean;
  readonly tokenLo: number;
  /** Left out when the asker holds a record under the same token prefix (it knows the key then). */
  readonly key: Uint8Array | undefined;
  readonly version: Version;
  readonly tombstone: boolean;
  readonly fpHi: number;
  readonly fpLo: number;
}

export interface RemoteEntry {
  readonly item: readonly [number, number];
  readonly header: ItemHeader;
}

export type SymbolResponse =
  | {
      readonly kind: 'decoded';
      readonly root: SymbolRoot;
      /** The responder's records in the difference. */
      readonly remote: readonly RemoteEntry[];
      /** The initiator's items in the difference. */
      readonly initiator: readonly (readonly [number, number])[];
    }
  | {
      readonly kind: 'symbols';
      readonly root: SymbolRoot;
      readonly estimate: number;
      /**
       * When the probe's sketch could not size the difference: the responder's parities at a deeper level.
       */
      readonly sketch: Sketch;
      readonly from: number;
      readonly symbols: Uint32Array;
    }
  | { readonly kind: 'too-different'; readonly root: SymbolRoot; readonly estimate: number };

/** One parity bit for each of the first `bits` digest nodes of `level` (bits 0: no sketch). */
export interface Sketch {
  readonly level: number;
  readonly bits: number;
  readonly parities: Uint8Array;
}

export const noSketch: Sketch = { level: 0, bits: 0, parities: new Uint8Array(0) };

function writeSketch(w: WireWriter, s: Sketch): void {
  w.u8(s.level);
  w.varuint(s.bits);
  if (s.parities.length !== Math.ceil(s.bits / 8)) throw new Error('assertion failed: sketch length');
  w.bytes(s.parities);
}

function readSketch(r: WireReader): Sketch {
  const level = r.u8('sketch level');
  if (level > 32) throw invalid(`sketch level ${level}`);
  const bits = r.varuint('sketch bits', sketchBitsMax);
  if (bits > 2 ** level) throw invalid(`${bits} sketch bits at level ${level}`);
  return { level, bits, parities: r.bytes(Math.ceil(bits / 8), 'sketch').slice() };
}

export interface ItemHeadersRequest {
  readonly items: readonly (readonly [number, number])[];
  /** Per item: the asker holds a record under this token prefix, so the key may be left out. */
  readonly keyKnown: readonly boolean[];
}

/** Scoped requests are kinds of their own: an older node refuses them (a fallback), never misreads them. */
const requestKinds = { probe: 1, more: 2, scopedProbe: 3, scopedMore: 4 } as const;
const responseKinds = { decoded: 1, symbols: 2, 'too-different': 3 } as const;
const estimateMax = 2 ** 48;

function start(type: number): WireWriter {
  const w = new WireWriter(256);
  w.u8(wireVersion);
  w.u8(type);
  return w;
}

function writeRoot(w: WireWriter, root: SymbolRoot): void {
  w.fp(root.hi, root.lo);
  w.varuint(root.count);
}

function readRoot(r: WireReader): SymbolRoot {
  const [hi, lo] = r.fp('root');
  return { hi, lo, count: r.varuint('root count', 2 ** 32 - 1) };
}

function writeSymbols(w: WireWriter, from: number, symbols: Uint32Array): void {
  w.varuint(from);
  w.varuint(symbols.length / 3);
  for (let i = 0; i < symbols.length; i++) w.u32(symbols[i]!);
}

function readSymbols(r: WireReader): { from: number; symbols: Uint32Array } {
  const from = r.varuint('first symbol', symbolsPerMessageMax * 4);
  const n = r.varuint('symbol count', symbolsPerMessageMax);
  if (r.remaining() < 12 * n) throw invalid(`truncated symbols: ${n} announced`);
  const symbols = new Uint32Array(3 * n);
  for (let i = 0; i < symbols.length; i++) symbols[i] = r.u32('symbol');
  return { from, symbols };
}

/** A scope as runs of consecutive partitions: its bits, the run count, then each run's first and last. */
function writeScope(w: WireWriter, scope: SymbolScope): void {
  const runs = partitionRuns(scope.partitions);
  w.u8(scope.partitionBits);
  w.varuint(runs.length);
  for (const [first, last] of runs) {
    w.varuint(first);
    w.varuint(last);
  }
}

function readScope(r: WireReader): SymbolScope {
  const partitionBits = r.u8('scope partition bits');
  if (partitionBits < 1 || partitionBits > scopePartitionBitsMax) {
    throw invalid(`scope of ${partitionBits} partition bits`);
  }
  const partitionCount = 2 ** partitionBits;
  const runCount = r.varuint('scope runs', partitionCount);
  if (runCount === 0) throw invalid('an empty scope');
  const partitions: number[] = [];
  let next = 0;
  for (let i = 0; i < runCount; i++) {
    const first = r.varuint('scope partition', partitionCount - 1);
    const last = r.varuint('scope partition', partitionCount - 1);
    // Ascending and disjoint, so the list is at most P long whatever the message claims.
    if (first < next || last < first) throw invalid(`scope run [${first}, ${last}] out of order`);
    for (let p = first; p <= last; p++) partitions.push(p);
    next = last + 1;
  }
  return { partitionBits, partitions };
}

export function encodeSymbolRequest(req: SymbolRequest): Uint8Array {
  const w = start(SymbolMessageType.symbolRequest);
  const scoped = req.scope !== undefined;
  if (req.kind === 'more') {
    w.u8(scoped ? requestKinds.scopedMore : requestKinds.more);
    if (req.scope !== undefined) writeScope(w, req.scope);
    w.varuint(req.from);
    w.varuint(req.to);
    return w.finish();
  }
  w.u8(scoped ? requestKinds.scopedProbe : requestKinds.probe);
  if (req.scope !== undefined) writeScope(w, req.scope);
  w.u32(req.salt);
  writeRoot(w, req.root);
  writeSketch(w, req.sketch);
  writeSymbols(w, 0, req.symbols);
  return w.finish();
}

export function decodeSymbolRequest(bytes: Uint8Array): SymbolRequest {
  const r = new WireReader(bytes);
  readHeader(r, SymbolMessageType.symbolRequest, bytes);
  const kind = r.u8('request kind');
  if (kind < requestKinds.probe || kind > requestKinds.scopedMore) {
    throw invalid(`unknown symbol request kind ${kind}`);
  }
  const scoped = kind === requestKinds.scopedProbe || kind === requestKinds.scopedMore;
  const scope = scoped ? readScope(r) : undefined;
  if (kind === requestKinds.more || kind === requestKinds.scopedMore) {
    const from = r.varuint('first symbol', symbolsPerMessageMax * 4);
    const to = r.varuint('end symbol', symbolsPerMessageMax * 4);
    if (to < from || to - from > symbolsPerMessageMax) throw invalid(`symbol range [${from}, ${to})`);
    r.end('symbol request');
    return scope === undefined ? { kind: 'more', from, to } : { kind: 'more', from, to, scope };
  }
  const salt = r.u32('salt');
  const root = readRoot(r);
  const sketch = readSketch(r);
  const { from, symbols } = readSymbols(r);
  if (from !== 0) throw invalid('a probe starts at symbol 0');
  r.end('symbol request');
  const probe = { kind: 'probe', salt, root, sketch, symbols } as const;
  return scope === undefined ? probe : { ...probe, scope };
}

function writeItem(w: WireWriter, item: readonly [number, number]): void {
  w.u32(item[0]);
  w.u32(item[1]);
}

function readItem(r: WireReader): [number, number] {
  return [r.u32('item'), r.u32('item')];
}

const headerFlags = { tombstone: 1, gone: 2, key: 4 } as const;

/** An item header; `fpHi` travels only when it differs from the item's (the record changed since). */
function writeItemHeader(w: WireWriter, item: readonly [number, number], h: ItemHeader): void {
  if (h.gone) {
    w.u8(headerFlags.gone);
    return;
  }
  const moved = h.fpHi !== item[1];
  w.u8(
    (h.tombstone ? headerFlags.tombstone : 0) | (h.key !== undefined ? headerFlags.key : 0) | (moved ? 8 : 0),
  );
  w.u32(h.tokenLo);
  if (h.key !== undefined) w.lengthPrefixed(h.key);
  w.version(h.version);
  if (moved) w.u32(h.fpHi);
  w.u32(h.fpLo);
}

/** The header of an item whose record is gone (or not one alone under its token prefix). */
export const goneHeader: ItemHeader = {
  gone: true,
  tokenLo: 0,
  key: undefined,
  version: { ms: 0, counter: 0, node: '-' },
  tombstone: false,
  fpHi: 0,
  fpLo: 0,
};

function readItemHeader(r: WireReader, item: readonly [number, number]): ItemHeader {
  const flags = r.u8('header flags');
  if (flags > 15 || ((flags & headerFlags.gone) !== 0 && flags !== headerFlags.gone)) {
    throw invalid(`unknown header flags ${flags}`);
  }
  if (flags === headerFlags.gone) return goneHeader;
  const tokenLo = r.u32('token');
  let key: Uint8Array | undefined;
  if ((flags & headerFlags.key) !== 0) {
    key = r.lengthPrefixed('key', keyBytesWireMax).slice();
    if (key.length === 0) throw invalid('empty key');
  }
  const version = r.version('version');
  const fpHi = (flags & 8) !== 0 ? r.u32('fingerprint') : item[1];
  const fpLo = r.u32('fingerprint');
  return { gone: false, tokenLo, key, version, tombstone: (flags & headerFlags.tombstone) !== 0, fpHi, fpLo };
}

export function encodeSymbolResponse(res: SymbolResponse): Uint8Array {
  const w = start(SymbolMessageType.symbolResponse);
  w.u8(responseKinds[res.kind]);
  writeRoot(w, res.root);
  if (res.kind === 'symbols') {
    w.varuint(res.estimate);
    writeSketch(w, res.sketch);
    writeSymbols(w, res.from, res.symbols);
  } else if (res.kind === 'too-different') {
    w.varuint(res.estimate);
  } else {
    w.varuint(res.remote.length);
    for (const e of res.remote) {
      writeItem(w, e.item);
      writeItemHeader(w, e.item, e.header);
    }
    w.varuint(res.initiator.length);
    for (const item of res.initiator) writeItem(w, item);
  }
  return w.finish();
}

export function decodeSymbolResponse(bytes: Uint8Array): SymbolResponse {
  const r = new WireReader(bytes);
  readHeader(r, SymbolMessageType.symbolResponse, bytes);
  const kind = r.u8('response kind');
  const root = readRoot(r);
  let res: SymbolResponse;
  if (kind === responseKinds.symbols) {
    const estimate = r.varuint('estimate', estimateMax);
    const sketch = readSketch(r);
    res = { kind: 'symbols', root, estimate, sketch, ...readSymbols(r) };
  } else if (kind === responseKinds['too-different']) {
    res = { kind: 'too-different', root, estimate: r.varuint('estimate', estimateMax) };
  } else if (kind === responseKinds.decoded) {
    const n = r.varuint('remote items', itemsPerMessageMax);
    const remote: RemoteEntry[] = [];
    for (let i = 0; i < n; i++) {
      const item = readItem(r);
      remote.push({ item, header: readItemHeader(r, item) });
    }
    const m = r.varuint('initiator items', itemsPerMessageMax);
    const initiator: Array<[number, number]> = [];
    for (let i = 0; i < m; i++) initiator.push(readItem(r));
    res = { kind: 'decoded', root, remote, initiator };
  } else throw invalid(`unknown symbol response kind ${kind}`);
  r.end('symbol response');
  return res;
}

export function encodeItemHeadersRequest(req: ItemHeadersRequest): Uint8Array {
  if (req.keyKnown.length !== req.items.length) throw new Error('assertion failed: one flag per item');
  const w = start(SymbolMessageType.itemHeadersRequest);
  w.varuint(req.items.length);
  for (const item of req.items) writeItem(w, item);
  const bitmap = new Uint8Array(Math.ceil(req.items.length / 8));
  req.keyKnown.forEach((known, i) => {
    if (known) bitmap[i >> 3]! |= 1 << (i & 7);
  });
  w.bytes(bitmap);
  return w.finish();
}

export function decodeItemHeadersRequest(bytes: Uint8Array): ItemHeadersRequest {
  const r = new WireReader(bytes);
  readHeader(r, SymbolMessageType.itemHeadersRequest, bytes);
  const n = r.varuint('item count', itemHeadersPerRequestMax);
  if (r.remaining() < 8 * n) throw invalid(`truncated items: ${n} announced`);
  const items: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) items.push(readItem(r));
  const bitmap = r.bytes(Math.ceil(n / 8), 'key bitmap');
  const keyKnown = items.map((_, i) => (bitmap[i >> 3]! & (1 << (i & 7))) !== 0);
  r.end('item headers request');
  return { items, keyKnown };
}

/** One header per requested item, in the request's order. */
export function encodeItemHeadersResponse(
  items: readonly (readonly [number, number])[],
  headers: readonly ItemHeader[],
): Uint8Array {
  if (items.length !== headers.length) throw new Error('assertion failed: one header per item');
  const w = start(SymbolMessageType.itemHeadersResponse);
  w.varuint(headers.length);
  for (const [i, h] of headers.entries()) writeItemHeader(w, items[i]!, h);
  return w.finish();
}

export function decodeItemHeadersResponse(
  bytes: Uint8Array,
  items: readonly (readonly [number, number])[],
): ItemHeader[] {
  const r = new WireReader(bytes);
  readHeader(r, SymbolMessageType.itemHeadersResponse, bytes);
  const n = r.varuint('header count', itemsPerMessageMax);
  if (n !== items.length) {
    throw new ConvergeError('PROTOCOL_INVALID', `expected ${items.length} item headers, got ${n}`);
  }
  const headers = items.map((item) => readItemHeader(r, item));
  r.end('item headers response');
  return headers;
}
