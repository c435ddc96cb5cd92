// The binary messages of coalesced replication (grammar in docs/protocol.md, "Replication messages"): one
// message carries many records, each tagged with why it travels; the answer carries one status per record.
// Every read is bounds-checked; a message is decoded whole, so a bad record refuses the message before any
// record of it is applied.

import { ConvergeError } from '../core/errors.js';
import { makeRecord, type VersionedRecord } from '../core/record.js';
import {
  keyBytesWireMax,
  readHeader,
  recordsPerMessageMax,
  valueBytesWireMax,
  wireVersion,
} from '../core/wire.js';
import { invalid, WireReader, WireWriter } from '../core/wire-buffer.js';

/** Message types of the replication path, beside the reconciliation types 1–8 of core/wire.ts. */
export const ReplicationMessageType = { batch: 16, ack: 17 } as const;

/** Why a record travels: the receiver applies it under this source (metrics, guards, history). */
export type ReplicationSource = 'replication' | 'hint' | 'read-repair';
const sourceCodes: Record<ReplicationSource, number> = { replication: 1, hint: 2, 'read-repair': 3 };
const sourcesByCode: ReadonlyArray<ReplicationSource | undefined> = [
  undefined,
  'replication',
  'hint',
  'read-repair',
];

export interface ReplicationEntry {
  readonly record: VersionedRecord;
  readonly source: ReplicationSource;
}

/** Per-record answer: persisted (or superseded there), or refused by the replica's admission rules. */
export const AckStatus = { persisted: 0, refused: 1 } as const;
export type AckStatusCode = (typeof AckStatus)[keyof typeof AckStatus];

/** Bytes a record adds to a message, as the channel counts them against its bounds (an upper estimate). */
export function entryBytes(record: VersionedRecord): number {
  return record.key.length + record.value.length + 96;
}

export function encodeReplicationBatch(entries: readonly ReplicationEntry[], bytesHint = 1024): Uint8Array {
  if (entries.length > recordsPerMessageMax) {
    throw new ConvergeError(
      'PROTOCOL_TOO_LARGE',
      `${entries.length} records exceed recordsPerMessageMax ${recordsPerMessageMax}`,
    );
  }
  const w = new WireWriter(bytesHint);
  w.u8(wireVersion);
  w.u8(ReplicationMessageType.batch);
  w.varuint(entries.length);
  for (const { record, source } of entries) {
    w.u8(sourceCodes[source]);
    w.lengthPrefixed(record.key);
    w.version(record.version);
    w.u8(record.tombstone ? 1 : 0);
    w.lengthPrefixed(record.value);
  }
  return w.finish();
}

/** Decodes a whole batch; fingerprints are recomputed from key, version and value (never trusted). */
export function decodeReplicationBatch(bytes: Uint8Array, valueBytesMax: number): ReplicationEntry[] {
  const r = new WireReader(bytes);
  readHeader(r, ReplicationMessageType.batch, bytes);
  const n = r.varuint('record count', recordsPerMessageMax);
  const out: ReplicationEntry[] = [];
  for (let i = 0; i < n; i++) {
    const source = sourcesByCode[r.u8('source')];
    if (source === undefined) throw invalid(`unknown replication source in record ${i}`);
    const key = r.lengthPrefixed('key', keyBytesWireMax).slice();
    if (key.length === 0) throw invalid('empty key');
    const version = r.version('version');
    const flags = r.u8('flags');
    if (flags > 1) throw invalid(`unknown record flags ${flags}`);
    const value = r.lengthPrefixed('value', valueBytesWireMax);
    if (value.length > valueBytesMax) {
      throw new ConvergeError(
        'VALUE_TOO_LARGE',
        `record value of ${value.length} bytes exceeds valueBytesMax ${valueBytesMax}`,
      );
    }
    if (flags === 1 && value.length > 0) throw invalid('a tombstone carries no value');
    out.push({ record: makeRecord(key, version, flags === 1 ? null : value.slice()), source });
  }
  r.end('replication batch');
  return out;
}

export function encodeReplicationAck(statuses: readonly AckStatusCode[]): Uint8Array {
  const out = new Uint8Array(2 + 8 + statuses.length);
  const w = new WireWriter(out.length);
  w.u8(wireVersion);
  w.u8(ReplicationMessageType.ack);
  w.varuint(statuses.length);
  for (const s of statuses) w.u8(s);
  return w.finish();
}

export function decodeReplicationAck(bytes: Uint8Array, expected: number): AckStatusCode[] {
  const r = new WireReader(bytes);
  readHeader(r, ReplicationMessageType.ack, bytes);
  const n = r.varuint('status count', recordsPerMessageMax);
  if (n !== expected) throw invalid(`the ack answers ${n} records, the message carried ${expected}`);
  const out: AckStatusCode[] = [];
  for (let i = 0; i < n; i++) {
    const s = r.u8('status');
    if (s !== AckStatus.persisted && s !== AckStatus.refused) throw invalid(`unknown ack status ${s}`);
    out.push(s);
  }
  r.end('replication ack');
  return out;
}
