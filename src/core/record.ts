// Records and the one merge function. Every path that changes a replica (client write, hint replay, read
// repair, anti-entropy repair) goes through `merge`, which is last-writer-wins by version: idempotent,
// commutative and associative, so the order and repetition of deliveries never matter.

import { assert, ConvergeError } from './errors.js';
import { fingerprintOf, getU32, type Hash64, putU32, valueHash } from './hash.js';
import { compareVersions, counterMax, msMax, nodeIdBytesMax, type Version } from './hlc.js';

export interface VersionedRecord {
  readonly key: Uint8Array;
  readonly version: Version;
  /** A tombstone is the record a delete leaves; its value is empty. */
  readonly tombstone: boolean;
  readonly value: Uint8Array;
  /** H(key, version, tombstone, H(value)); what digests are made of. */
  readonly fp: Hash64;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function makeRecord(key: Uint8Array, version: Version, value: Uint8Array | null): VersionedRecord {
  const tombstone = value === null;
  const bytes = value ?? new Uint8Array(0);
  const fp = fingerprintOf(key, encodeVersion(version), tombstone, valueHash(bytes));
  return { key, version, tombstone, value: bytes, fp };
}

/** The winner of two records of the same key. Equal versions with different contents (a bug or bit rot) are
 * settled by the larger fingerprint, so the choice is the same on every replica. */
export function merge(a: VersionedRecord, b: VersionedRecord): VersionedRecord {
  const c = compareVersions(a.version, b.version);
  if (c !== 0) return c > 0 ? a : b;
  return compareFp(a.fp, b.fp) >= 0 ? a : b;
}

/** A tombstone older than the purge bound: garbage on every replica, never to be written or fetched again. */
export function isPurgedTombstone(
  r: { readonly tombstone: boolean; readonly version: Version },
  purgedBeforeMs: number,
): boolean {
  return r.tombstone && r.version.ms < purgedBeforeMs;
}

/**
 * True when two replicas' records of a key differ only by tombstones under the purge bound: each side holds
 * nothing or garbage, so the difference is a purge one of them has not done yet, not divergence.
 */
export function differsOnlyByPurged(
  local: { readonly tombstone: boolean; readonly version: Version } | undefined,
  remote: { readonly tombstone: boolean; readonly version: Version } | undefined,
  purgedBeforeMs: number,
): boolean {
  const gone = (r: typeof local): boolean => r === undefined || isPurgedTombstone(r, purgedBeforeMs);
  return gone(local) && gone(remote);
}

/** True when `incoming` would replace `current` under merge (and is not the same record). */
export function supersedes(incoming: VersionedRecord, current: VersionedRecord | undefined): boolean {
  if (current === undefined) return true;
  const c = compareVersions(incoming.version, current.version);
  if (c !== 0) return c > 0;
  return compareFp(incoming.fp, current.fp) > 0;
}

export function compareFp(a: Hash64, b: Hash64): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

export function fpEquals(a: Hash64, b: Hash64): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

// ---- version and record encodings (storage layout; the wire codec reuses the version encoding) ----

/** ms: 6 bytes BE, counter: 2 bytes BE, node length: 1 byte, node: UTF-8. */
export function encodeVersion(v: Version): Uint8Array {
  const node = encodeNodeId(v.node);
  assert(node.length > 0 && node.length <= nodeIdBytesMax, 'node id length');
  assert(Number.isInteger(v.ms) && v.ms >= 0 && v.ms <= msMax, 'version ms');
  assert(Number.isInteger(v.counter) && v.counter >= 0 && v.counter <= counterMax, 'version counter');
  const out = new Uint8Array(9 + node.length);
  writeVersion(out, 0, v.ms, v.counter, node);
  return out;
}

/** A cluster has few node ids and every version names one: encode each once (bounded, in case of many). */
const nodeIds = new Map<string, Uint8Array>();
const nodeIdsCachedMax = 1024;

function encodeNodeId(node: string): Uint8Array {
  let bytes = nodeIds.get(node);
  if (bytes === undefined) {
    bytes = textEncoder.encode(node);
    if (nodeIds.size >= nodeIdsCachedMax) nodeIds.clear();
    nodeIds.set(node, bytes);
  }
  return bytes;
}

function writeVersion(out: Uint8Array, at: number, ms: number, counter: number, node: Uint8Array): number {
  // Byte by byte rather than through a DataView (see putU32).
  const hi = Math.floor(ms / 2 ** 32);
  out[at] = hi >>> 8;
  out[at + 1] = hi;
  putU32(out, at + 2, ms % 2 ** 32);
  out[at + 6] = counter >>> 8;
  out[at + 7] = counter;
  out[at + 8] = node.length;
  out.set(node, at + 9);
  return at + 9 + node.length;
}

/** Decodes a version at `at`; returns it with the offset after it. Throws PROTOCOL_INVALID on bad bytes. */
export function decodeVersion(buf: Uint8Array, at: number): { version: Version; end: number } {
  if (at + 9 > buf.length) throw new ConvergeError('PROTOCOL_INVALID', 'truncated version');
  // Byte by byte: a DataView per version costs more than the reads (see putU32).
  const ms = ((buf[at]! << 8) | buf[at + 1]!) * 2 ** 32 + getU32(buf, at + 2);
  const counter = (buf[at + 6]! << 8) | buf[at + 7]!;
  const len = buf[at + 8]!;
  if (len === 0 || len > nodeIdBytesMax)
    throw new ConvergeError('PROTOCOL_INVALID', 'bad node id length in version');
  if (at + 9 + len > buf.length) throw new ConvergeError('PROTOCOL_INVALID', 'truncated version node id');
  return { version: { ms, counter, node: decodeNodeId(buf, at + 9, len) }, end: at + 9 + len };
}

/**
 * Node ids decoded lately, most recent first: every version names one of a cluster's few nodes, and comparing
 * a few bytes costs far less than a UTF-8 decode and a string per record.
 */
const nodeIdsDecoded: Array<{ bytes: Uint8Array; id: string }> = [];
const nodeIdsDecodedMax = 8;

function decodeNodeId(buf: Uint8Array, at: number, len: number): string {
  for (const cached of nodeIdsDecoded) {
    if (cached.bytes.length === len && bytesAt(buf, at, cached.bytes)) return cached.id;
  }
  const bytes = buf.slice(at, at + len);
  let id: string;
  try {
    id = textDecoder.decode(bytes);
  } catch {
    throw new ConvergeError('PROTOCOL_INVALID', 'node id in version is not UTF-8');
  }
  if (nodeIdsDecoded.length >= nodeIdsDecodedMax) nodeIdsDecoded.pop();
  nodeIdsDecoded.unshift({ bytes, id });
  return id;
}

function bytesAt(buf: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (buf[at + i] !== bytes[i]) return false;
  return true;
}

const recordFormat = 1;

/**
 * Stored form of a record (the key is stored beside it, not inside):
 * format (1) | version | flags (1: bit 0 = tombstone) | fingerprint (8) | value bytes.
 */
export function encodeRecordValue(r: VersionedRecord): Uint8Array {
  const version = encodeVersion(r.version);
  const out = new Uint8Array(1 + version.length + 1 + 8 + r.value.length);
  out[0] = recordFormat;
  out.set(version, 1);
  let at = 1 + version.length;
  out[at] = r.tombstone ? 1 : 0;
  putU32(out, at + 1, r.fp[0]);
  putU32(out, at + 5, r.fp[1]);
  at += 9;
  out.set(r.value, at);
  return out;
}

/** Decodes a stored record. The stored fingerprint is returned as stored: verification recomputes it. */
export function decodeRecordValue(key: Uint8Array, buf: Uint8Array): VersionedRecord {
  if (buf.length < 1 || buf[0] !== recordFormat)
    throw new ConvergeError('STORAGE_FAILED', 'unknown record format');
  const { version, end } = decodeVersion(buf, 1);
  if (end + 9 > buf.length) throw new ConvergeError('STORAGE_FAILED', 'truncated record');
  const flags = buf[end]!;
  const fp: Hash64 = [getU32(buf, end + 1), getU32(buf, end + 5)];
  return { key, version, tombstone: (flags & 1) === 1, value: buf.subarray(end + 9), fp };
}

/** Recomputes a record's fingerprint from its contents (used by verification to catch rot). */
export function recomputeFingerprint(r: VersionedRecord): Hash64 {
  return fingerprintOf(r.key, encodeVersion(r.version), r.tombstone, valueHash(r.value));
}

export function keyToBytes(key: string): Uint8Array {
  return textEncoder.encode(key);
}

export function keyToString(key: Uint8Array): string {
  return textDecoder.decode(key);
}
