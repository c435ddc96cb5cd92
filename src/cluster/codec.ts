// Node-to-node messages of the write and read paths, packed with msgpackr and validated on arrival. A peer's
// fingerprint is never trusted: records are rebuilt from key, version and value and fingerprinted here.

import { Packr } from 'msgpackr';
import { ConvergeError } from '../core/errors.js';
import { decodeVersion, encodeVersion, makeRecord, type VersionedRecord } from '../core/record.js';
import { keyBytesWireMax } from '../core/wire.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export const replicateRecordsMax = 10_000;

/** A record on the wire: key, encoded version, tombstone flag, value. */
type WireRecord = [Uint8Array, Uint8Array, boolean, Uint8Array];

function toWire(r: VersionedRecord): WireRecord {
  return [r.key, encodeVersion(r.version), r.tombstone, r.value];
}

function fromWire(w: unknown, valueBytesMax: number): VersionedRecord {
  if (!Array.isArray(w) || w.length !== 4) throw invalid('record must be [key, version, tombstone, value]');
  const [key, version, tombstone, value] = w as unknown[];
  if (!(key instanceof Uint8Array) || key.length === 0 || key.length > keyBytesWireMax)
    throw invalid('record key');
  if (!(version instanceof Uint8Array)) throw invalid('record version');
  if (typeof tombstone !== 'boolean') throw invalid('record tombstone flag');
  if (!(value instanceof Uint8Array)) throw invalid('record value');
  if (value.length > valueBytesMax) {
    throw new ConvergeError(
      'VALUE_TOO_LARGE',
      `record value of ${value.length} bytes exceeds valueBytesMax ${valueBytesMax}`,
    );
  }
  if (tombstone && value.length > 0) throw invalid('a tombstone carries no value');
  const { version: v, end } = decodeVersion(version, 0);
  if (end !== version.length) throw invalid('trailing bytes after version');
  return makeRecord(Uint8Array.from(key), v, tombstone ? null : Uint8Array.from(value));
}

function invalid(what: string): ConvergeError {
  return new ConvergeError('PROTOCOL_INVALID', `malformed internal message: ${what}`);
}

function unpack(body: Uint8Array): unknown {
  try {
    return packr.unpack(body);
  } catch {
    throw invalid('not a msgpack document');
  }
}

export function encodeRecords(records: readonly VersionedRecord[]): Uint8Array {
  return packr.pack({ records: records.map(toWire) });
}

export function decodeRecords(body: Uint8Array, valueBytesMax: number): VersionedRecord[] {
  const msg = unpack(body) as { records?: unknown };
  if (msg === null || typeof msg !== 'object' || !Array.isArray(msg.records))
    throw invalid('expected {records: [...]}');
  if (msg.records.length > replicateRecordsMax) {
    throw new ConvergeError(
      'PROTOCOL_TOO_LARGE',
      `${msg.records.length} records exceed replicateRecordsMax ${replicateRecordsMax}`,
    );
  }
  return msg.records.map((w) => fromWire(w, valueBytesMax));
}

export function encodeKey(key: Uint8Array): Uint8Array {
  return packr.pack({ key });
}

export function decodeKey(body: Uint8Array): Uint8Array {
  const msg = unpack(body) as { key?: unknown };
  if (msg === null || typeof msg !== 'object' || !(msg.key instanceof Uint8Array))
    throw invalid('expected {key}');
  if (msg.key.length === 0 || msg.key.length > keyBytesWireMax) throw invalid('key length');
  return msg.key;
}

export function encodeOptionalRecord(record: VersionedRecord | undefined): Uint8Array {
  return packr.pack({ record: record === undefined ? null : toWire(record) });
}

export function decodeOptionalRecord(body: Uint8Array, valueBytesMax: number): VersionedRecord | undefined {
  const msg = unpack(body) as { record?: unknown };
  if (msg === null || typeof msg !== 'object' || !('record' in msg)) throw invalid('expected {record}');
  return msg.record === null ? undefined : fromWire(msg.record, valueBytesMax);
}

export function encodeJson(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeJson(body: Uint8Array): unknown {
  return unpack(body);
}
