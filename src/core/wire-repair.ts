// Messages that move records once reconciliation has named them: fetch (pull named keys from the peer), range
// fetch (pull every record under digest prefixes the local replica holds nothing of) and push (send to the
// peer). Records are rebuilt and fingerprinted on arrival; a peer's fingerprint is not trusted.

import { ConvergeError } from './errors.js';
import { makeRecord, type VersionedRecord } from './record.js';
import {
  keyBytesWireMax,
  MessageType,
  readHeader,
  recordsPerMessageMax,
  roundItemsMax,
  valueBytesWireMax,
  wireVersion,
} from './wire.js';
import { invalid, WireReader, WireWriter } from './wire-buffer.js';

export interface FetchRequest {
  readonly keys: readonly Uint8Array[];
}

export interface FetchResponse {
  /** How many requested keys were answered (the rest did not fit in the response). */
  readonly processed: number;
  /** The peer's current records for the answered keys it holds. */
  readonly records: readonly VersionedRecord[];
}

/** A position inside a prefix range: the record with this token and key (ranges are in token, key order). */
export interface RangeCursor {
  readonly token: Uint8Array;
  readonly key: Uint8Array;
}

export interface RangeFetchRequest {
  /** Digest prefixes (node level and index), in token order. */
  readonly ranges: readonly { readonly level: number; readonly index: number }[];
  /** The first range resumes after this record (the cursor of the previous answer). */
  readonly after?: RangeCursor;
  /** The answer carries at most this many records. */
  readonly recordsMax: number;
}

export interface RangeFetchResponse {
  /** How many ranges were answered whole. */
  readonly processed: number;
  /** Set when range `processed` was cut short: it continues after this record. */
  readonly next?: RangeCursor;
  /** The peer's records, in token order. */
  readonly records: readonly VersionedRecord[];
}

/**
 * Estimated bytes of one record on the wire beyond its key and value: the length prefixes, the version (with
 * a short node id), the flags. The one estimate every bound on records per message uses (fetch and
 * range-fetch answers, round-response headers, session byte counts).
 */
export const recordOverheadBytes = 32;

/** Estimated wire bytes of a record (or of a header: no value). */
export function recordWireBytes(r: { readonly key: Uint8Array; readonly value?: Uint8Array }): number {
  return r.key.length + (r.value?.length ?? 0) + recordOverheadBytes;
}

/** Estimated wire bytes of a batch of records. */
export function recordBytes(records: readonly VersionedRecord[]): number {
  let n = 0;
  for (const r of records) n += recordWireBytes(r);
  return n;
}

/** Token bytes on the wire (the digest's 64-bit token). */
const tokenBytes = 8;

export interface PushResponse {
  readonly applied: number;
  readonly ignored: number;
}

/** A writer for one message; `bytes` presizes it (record batches: no regrowth while records are added). */
function start(type: number, bytes = 256): WireWriter {
  const w = new WireWriter(bytes);
  w.u8(wireVersion);
  w.u8(type);
  return w;
}

export function writeRecords(w: WireWriter, records: readonly VersionedRecord[]): void {
  w.varuint(records.length);
  for (const r of records) {
    w.lengthPrefixed(r.key);
    w.version(r.version);
    w.u8(r.tombstone ? 1 : 0);
    w.lengthPrefixed(r.value);
  }
}

export function readRecords(r: WireReader): VersionedRecord[] {
  const n = r.varuint('record count', recordsPerMessageMax);
  const out: VersionedRecord[] = [];
  for (let i = 0; i < n; i++) {
    const key = r.lengthPrefixed('key', keyBytesWireMax).slice();
    if (key.length === 0) throw invalid('empty key');
    const version = r.version('version');
    const flags = r.u8('flags');
    if (flags > 1) throw invalid(`unknown record flags ${flags}`);
    const value = r.lengthPrefixed('value', valueBytesWireMax).slice();
    if (flags === 1 && value.length > 0) throw invalid('a tombstone carries no value');
    out.push(makeRecord(key, version, flags === 1 ? null : value));
  }
  return out;
}

export function encodeFetchRequest(req: FetchRequest): Uint8Array {
  const w = start(MessageType.fetchRequest);
  w.varuint(req.keys.length);
  for (const k of req.keys) w.lengthPrefixed(k);
  return w.finish();
}

export function decodeFetchRequest(bytes: Uint8Array): FetchRequest {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.fetchRequest, bytes);
  const n = r.varuint('key count', recordsPerMessageMax);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const k = r.lengthPrefixed('key', keyBytesWireMax).slice();
    if (k.length === 0) throw invalid('empty key');
    keys.push(k);
  }
  r.end('fetch request');
  return { keys };
}

export function encodeFetchResponse(res: FetchResponse): Uint8Array {
  const w = start(MessageType.fetchResponse, 64 + recordBytes(res.records));
  w.u32(res.processed);
  writeRecords(w, res.records);
  return w.finish();
}

export function decodeFetchResponse(bytes: Uint8Array): FetchResponse {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.fetchResponse, bytes);
  const processed = r.u32('processed');
  const records = readRecords(r);
  r.end('fetch response');
  return { processed, records };
}

export function encodePushRequest(records: readonly VersionedRecord[]): Uint8Array {
  if (records.length > recordsPerMessageMax)
    throw new ConvergeError('PROTOCOL_TOO_LARGE', 'too many records for one push');
  const w = start(MessageType.pushRequest, 64 + recordBytes(records));
  writeRecords(w, records);
  return w.finish();
}

export function decodePushRequest(bytes: Uint8Array): VersionedRecord[] {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.pushRequest, bytes);
  const records = readRecords(r);
  r.end('push request');
  return records;
}

export function encodePushResponse(res: PushResponse): Uint8Array {
  const w = start(MessageType.pushResponse);
  w.u32(res.applied);
  w.u32(res.ignored);
  return w.finish();
}

export function decodePushResponse(bytes: Uint8Array): PushResponse {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.pushResponse, bytes);
  const res = { applied: r.u32('applied'), ignored: r.u32('ignored') };
  r.end('push response');
  return res;
}

export function writeCursor(w: WireWriter, c: RangeCursor | undefined): void {
  w.u8(c === undefined ? 0 : 1);
  if (c === undefined) return;
  if (c.token.length !== tokenBytes)
    throw new ConvergeError('PROTOCOL_INVALID', `a cursor token has ${tokenBytes} bytes`);
  w.bytes(c.token);
  w.lengthPrefixed(c.key);
}

export function readCursor(r: WireReader): RangeCursor | undefined {
  const flag = r.u8('cursor flag');
  if (flag > 1) throw invalid(`unknown cursor flag ${flag}`);
  if (flag === 0) return undefined;
  const token = r.bytes(tokenBytes, 'cursor token').slice();
  const key = r.lengthPrefixed('cursor key', keyBytesWireMax).slice();
  return { token, key };
}

export function encodeRangeFetchRequest(req: RangeFetchRequest): Uint8Array {
  if (req.ranges.length > roundItemsMax)
    throw new ConvergeError('PROTOCOL_TOO_LARGE', 'too many ranges for one fetch');
  const w = start(MessageType.rangeFetchRequest);
  w.varuint(req.recordsMax);
  writeRanges(w, req.ranges);
  writeCursor(w, req.after);
  return w.finish();
}

/** A list of digest prefixes (level, index): range fetches and stream pages name what they cover with it. */
export function writeRanges(w: WireWriter, ranges: ReadonlyArray<{ level: number; index: number }>): void {
  w.varuint(ranges.length);
  for (const { level, index } of ranges) {
    w.u8(level);
    w.u32(index);
  }
}

/** Reads what writeRanges wrote, refusing a level deeper than 32 bits or an index outside its level. */
export function readRanges(r: WireReader): Array<{ level: number; index: number }> {
  const n = r.varuint('range count', roundItemsMax);
  const ranges: Array<{ level: number; index: number }> = [];
  for (let i = 0; i < n; i++) {
    const level = r.u8('level');
    if (level > 32) throw invalid(`level ${level} is deeper than a 32-bit prefix`);
    const index = r.u32('index');
    if (index >= 2 ** level) throw invalid(`index ${index} out of range for level ${level}`);
    ranges.push({ level, index });
  }
  return ranges;
}

export function decodeRangeFetchRequest(bytes: Uint8Array): RangeFetchRequest {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.rangeFetchRequest, bytes);
  const recordsMax = r.varuint('records max', recordsPerMessageMax);
  if (recordsMax === 0) throw invalid('a range fetch must allow at least one record');
  const ranges = readRanges(r);
  const after = readCursor(r);
  r.end('range fetch request');
  return after === undefined ? { ranges, recordsMax } : { ranges, after, recordsMax };
}

export function encodeRangeFetchResponse(res: RangeFetchResponse): Uint8Array {
  const w = start(MessageType.rangeFetchResponse, 64 + recordBytes(res.records));
  w.u32(res.processed);
  writeCursor(w, res.next);
  writeRecords(w, res.records);
  return w.finish();
}

export function decodeRangeFetchResponse(bytes: Uint8Array): RangeFetchResponse {
  const r = new WireReader(bytes);
  readHeader(r, MessageType.rangeFetchResponse, bytes);
  const processed = r.u32('processed');
  const next = readCursor(r);
  const records = readRecords(r);
  r.end('range fetch response');
  return next === undefined ? { processed, records } : { processed, next, records };
}
