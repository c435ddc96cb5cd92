// Messages that move records once reconciliation has named them: fetch (pull from the peer) and push
// (send to the peer). Records are rebuilt and fingerprinted on arrival; a peer's fingerprint is not trusted.

import { ConvergeError } from './errors.js';
import { type VersionedRecord, makeRecord } from './record.js';
import { WireReader, WireWriter, invalid } from './wire-buffer.js';
import { MessageType, keyBytesWireMax, readHeader, recordsPerMessageMax, valueBytesWireMax, wireVersion } from './wire.js';

export interface FetchRequest {
  readonly keys: readonly Uint8Array[];
}

export interface FetchResponse {
  /** How many requested keys were answered (the rest did not fit in the response). */
  readonly processed: number;
  /** The peer's current records for the answered keys it holds. */
  readonly records: readonly VersionedRecord[];
}

export interface PushResponse {
  readonly applied: number;
  readonly ignored: number;
}

function start(type: number): WireWriter {
  const w = new WireWriter(256);
  w.u8(wireVersion);
  w.u8(type);
  return w;
}

function writeRecords(w: WireWriter, records: readonly VersionedRecord[]): void {
  w.varuint(records.length);
  for (const r of records) {
    w.lengthPrefixed(r.key);
    w.version(r.version);
    w.u8(r.tombstone ? 1 : 0);
    w.lengthPrefixed(r.value);
  }
}

function readRecords(r: WireReader): VersionedRecord[] {
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
  const w = start(MessageType.fetchResponse);
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
  if (records.length > recordsPerMessageMax) throw new ConvergeError('PROTOCOL_TOO_LARGE', 'too many records for one push');
  const w = start(MessageType.pushRequest);
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
