// The reconciliation protocol's messages (grammar in docs/protocol.md). Pure encode/decode functions; each
// decoder checks the version byte, the message type, every length against a named limit, and that nothing
// trails the message.

import { leafBitsMax } from './digest.js';
import { ConvergeError } from './errors.js';
import type { Hash64 } from './hash.js';
import type { Version } from './hlc.js';
import { invalid, WireReader, WireWriter } from './wire-buffer.js';

export const wireVersion = 1;
export const wireMessageBytesMax = 16 * 2 ** 20;
export const roundItemsMax = 65_536;
export const entriesPerItemMax = 65_536;
export const recordsPerMessageMax = 65_536;
export const keyBytesWireMax = 4096;
export const valueBytesWireMax = 16 * 2 ** 20;
export const branchBitsMax = 8;

export const MessageType = {
  roundRequest: 1,
  roundResponse: 2,
  fetchRequest: 3,
  fetchResponse: 4,
  pushRequest: 5,
  pushResponse: 6,
  rangeFetchRequest: 7,
  rangeFetchResponse: 8,
} as const;

/** A digest node summarised on the wire: a session-salted 32-bit hash and the record count. */
export interface WireNodeHash {
  readonly hash: number;
  readonly count: number;
}

export type RequestItem =
  | { readonly kind: 'root'; readonly level: 0; readonly index: 0; readonly node: WireNodeHash }
  /**
   * One subtree's hash at any level above the leaves: how a session over some partitions opens (one item
   * per shared partition) instead of a children item each. Item kind 4; answered like a root.
   */
  | { readonly kind: 'node'; readonly level: number; readonly index: number; readonly node: WireNodeHash }
  | {
      readonly kind: 'children';
      readonly level: number;
      readonly index: number;
      readonly children: readonly WireNodeHash[];
    }
  | {
      readonly kind: 'entries';
      readonly level: number;
      readonly index: number;
      readonly fps: readonly Hash64[];
    };

export interface RoundRequest {
  readonly leafBits: number;
  readonly branchBits: number;
  readonly salt: number;
  readonly items: readonly RequestItem[];
}

export interface RecordHeader {
  readonly key: Uint8Array;
  readonly version: Version;
  readonly tombstone: boolean;
  readonly fp: Hash64;
}

export type ResponseResult =
  | { readonly kind: 'equal'; readonly level: number; readonly index: number }
  | {
      readonly kind: 'children';
      readonly level: number;
      readonly index: number;
      readonly children: readonly WireNodeHash[];
    }
  | { readonly kind: 'small'; readonly level: number; readonly index: number; readonly count: number }
  | {
      readonly kind: 'diff';
      readonly level: number;
      readonly index: number;
      readonly missing: Uint8Array;
      readonly headers: readonly RecordHeader[];
    }
  | { readonly kind: 'too-many'; readonly level: number; readonly index: number; readonly count: number };

export interface RoundResponse {
  /** How many request items were answered; the rest must be sent again. */
  readonly processed: number;
  readonly results: readonly ResponseResult[];
}

const itemKinds = { root: 1, children: 2, entries: 3, node: 4 } as const;
const resultKinds = { equal: 1, children: 2, small: 3, diff: 4, 'too-many': 5 } as const;

function header(w: WireWriter, type: number): void {
  w.u8(wireVersion);
  w.u8(type);
}

export function readHeader(r: WireReader, expected: number, bytes: Uint8Array): void {
  if (bytes.length > wireMessageBytesMax) {
    throw new ConvergeError(
      'PROTOCOL_TOO_LARGE',
      `message of ${bytes.length} bytes exceeds wireMessageBytesMax ${wireMessageBytesMax}`,
    );
  }
  const type = readVersionAndType(r);
  if (type !== expected) throw invalid(`expected message type ${expected}, got ${type}`);
}

function readVersionAndType(r: WireReader): number {
  const version = r.u8('version');
  if (version !== wireVersion)
    throw new ConvergeError(
      'PROTOCOL_VERSION',
      `protocol version ${version} is not supported (this node speaks ${wireVersion})`,
    );
  return r.u8('message type');
}

/** The type byte of a message, after checking its version. */
export function peekType(bytes: Uint8Array): number {
  return readVersionAndType(new WireReader(bytes));
}

export function childCount(level: number, leafBits: number, branchBits: number): number {
  return 2 ** Math.min(branchBits, leafBits - level);
}

function writeNodeHashes(w: WireWriter, nodes: readonly WireNodeHash[]): void {
  for (const n of nodes) {
    w.u32(n.hash);
    w.varuint(n.count);
  }
}

function readNodeHashes(r: WireReader, n: number): WireNodeHash[] {
  const out: WireNodeHash[] = [];
  for (let i = 0; i < n; i++) out.push({ hash: r.u32('node hash'), count: r.varuint('node count', 2 ** 48) });
  return out;
}

function readLevelIndex(r: WireReader, leafBits: number): { level: number; index: number } {
  const level = r.u8('level');
  if (level > leafBits) throw invalid(`level ${level} is below the leaves (${leafBits})`);
  const index = r.u32('index');
  if (index >= 2 ** level) throw invalid(`index ${index} out of range for level ${level}`);
  return { level, index };
}

export function encodeRoundRequest(req: RoundRequest): Uint8Array {
  const w = new WireWriter(64 + req.items.length * 32);
  header(w, MessageType.roundRequest);
  w.u8(req.leafBits);
  w.u8(req.branchBits);
  w.u32(req.salt);
  w.u32(req.items.length);
  for (const item of req.items) {
    w.u8(itemKinds[item.kind]);
    w.u8(item.level);
    w.u32(item.index);
    if (item.kind === 'root' || item.kind === 'node') writeNodeHashes(w, [item.node]);
    else if (item.kind === 'children') writeNodeHashes(w, item.children);
    else {
      w.varuint(item.fps.length);
      for (const fp of item.fps) w.fp(fp[0], fp[1]);
    }
  }
  return w.finish();
}

export function decodeRoundRequest(bytes: Uint8Array): RoundRequest {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.roundRequest, bytes);
  const leafBits = r.u8('leafBits');
  if (leafBits < 1 || leafBits > leafBitsMax) throw invalid(`leafBits ${leafBits}`);
  const branchBits = r.u8('branchBits');
  if (branchBits < 1 || branchBits > branchBitsMax) throw invalid(`branchBits ${branchBits}`);
  const salt = r.u32('salt');
  const count = r.u32('item count');
  if (count > roundItemsMax)
    throw new ConvergeError('PROTOCOL_TOO_LARGE', `${count} items exceed roundItemsMax ${roundItemsMax}`);
  const items: RequestItem[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8('item kind');
    const { level, index } = readLevelIndex(r, leafBits);
    if (kind === itemKinds.root) {
      if (level !== 0 || index !== 0) throw invalid('root item must be level 0, index 0');
      items.push({ kind: 'root', level: 0, index: 0, node: readNodeHashes(r, 1)[0]! });
    } else if (kind === itemKinds.node) {
      // A leaf's content is compared as entries: a leaf has no children to describe it by.
      if (level >= leafBits) throw invalid('a node item must be above the leaf level');
      items.push({ kind: 'node', level, index, node: readNodeHashes(r, 1)[0]! });
    } else if (kind === itemKinds.children) {
      if (level >= leafBits) throw invalid('a leaf has no children');
      items.push({
        kind: 'children',
        level,
        index,
        children: readNodeHashes(r, childCount(level, leafBits, branchBits)),
      });
    } else if (kind === itemKinds.entries) {
      const n = r.varuint('entry count', entriesPerItemMax);
      const fps: Hash64[] = [];
      for (let j = 0; j < n; j++) fps.push(r.fp('fingerprint'));
      items.push({ kind: 'entries', level, index, fps });
    } else throw invalid(`unknown item kind ${kind}`);
  }
  r.end('round request');
  return { leafBits, branchBits, salt, items };
}

export function writeRecordHeader(w: WireWriter, h: RecordHeader): void {
  w.lengthPrefixed(h.key);
  w.version(h.version);
  w.u8(h.tombstone ? 1 : 0);
  w.fp(h.fp[0], h.fp[1]);
}

export function readRecordHeader(r: WireReader): RecordHeader {
  const key = r.lengthPrefixed('key', keyBytesWireMax).slice();
  if (key.length === 0) throw invalid('empty key');
  const version = r.version('version');
  const flags = r.u8('flags');
  if (flags > 1) throw invalid(`unknown record flags ${flags}`);
  return { key, version, tombstone: flags === 1, fp: r.fp('fingerprint') };
}

export function encodeRoundResponse(res: RoundResponse, leafBits: number, branchBits: number): Uint8Array {
  const w = new WireWriter(1024);
  header(w, MessageType.roundResponse);
  w.u32(res.processed);
  w.u32(res.results.length);
  for (const x of res.results) {
    w.u8(resultKinds[x.kind]);
    w.u8(x.level);
    w.u32(x.index);
    if (x.kind === 'children') {
      if (x.children.length !== childCount(x.level, leafBits, branchBits))
        throw new Error('assertion failed: child count');
      writeNodeHashes(w, x.children);
    } else if (x.kind === 'small' || x.kind === 'too-many') w.varuint(x.count);
    else if (x.kind === 'diff') {
      w.lengthPrefixed(x.missing);
      w.varuint(x.headers.length);
      for (const h of x.headers) writeRecordHeader(w, h);
    }
  }
  return w.finish();
}

export function decodeRoundResponse(bytes: Uint8Array, leafBits: number, branchBits: number): RoundResponse {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.roundResponse, bytes);
  const processed = r.u32('processed');
  const count = r.u32('result count');
  if (count > roundItemsMax * 2 ** branchBitsMax)
    throw new ConvergeError('PROTOCOL_TOO_LARGE', `${count} results`);
  const results: ResponseResult[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8('result kind');
    const { level, index } = readLevelIndex(r, leafBits);
    if (kind === resultKinds.equal) results.push({ kind: 'equal', level, index });
    else if (kind === resultKinds.children) {
      if (level >= leafBits) throw invalid('a leaf has no children');
      results.push({
        kind: 'children',
        level,
        index,
        children: readNodeHashes(r, childCount(level, leafBits, branchBits)),
      });
    } else if (kind === resultKinds.small)
      results.push({ kind: 'small', level, index, count: r.varuint('count', 2 ** 48) });
    else if (kind === resultKinds['too-many'])
      results.push({ kind: 'too-many', level, index, count: r.varuint('count', 2 ** 48) });
    else if (kind === resultKinds.diff) {
      const missing = r.lengthPrefixed('missing bitmap', entriesPerItemMax / 8).slice();
      const n = r.varuint('header count', entriesPerItemMax);
      const headers: RecordHeader[] = [];
      for (let j = 0; j < n; j++) headers.push(readRecordHeader(r));
      results.push({ kind: 'diff', level, index, missing, headers });
    } else throw invalid(`unknown result kind ${kind}`);
  }
  r.end('round response');
  return { processed, results };
}
