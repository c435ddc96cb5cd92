// Hashing for tokens (the position of a key in the keyspace) and record fingerprints.
// xxHash64 through WebAssembly: no Node imports, so the pure core still runs in a browser.
// A 64-bit hash is handled as two unsigned 32-bit halves to keep BigInt off the hot path.

import xxhash from 'xxhash-wasm';

const hasher = await xxhash();
const scratch64 = new BigUint64Array(1);
const scratch32 = new Uint32Array(scratch64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const tokenSeed = 0x636f6e76n; // 'conv'
const fingerprintSeed = 0x66707231n; // 'fpr1'
const valueSeed = 0x76616c31n; // 'val1'

/** A 64-bit hash as [hi, lo] unsigned 32-bit halves. */
export type Hash64 = readonly [hi: number, lo: number];

function split(x: bigint): Hash64 {
  scratch64[0] = x;
  return littleEndian ? [scratch32[1]!, scratch32[0]!] : [scratch32[0]!, scratch32[1]!];
}

export function hash64(bytes: Uint8Array, seed: bigint = 0n): Hash64 {
  return split(hasher.h64Raw(bytes, seed));
}

/**
 * The token of a key: its position in the hash-ordered keyspace, 8 bytes big-endian, so that byte order of
 * tokens equals numeric order and a prefix of the token is a prefix of the keyspace.
 */
export function tokenOf(key: Uint8Array): Uint8Array {
  const [hi, lo] = hash64(key, tokenSeed);
  const out = new Uint8Array(8);
  putU32(out, 0, hi);
  putU32(out, 4, lo);
  return out;
}

/**
 * Big-endian u32 into bytes. Written byte by byte: a DataView over a small fresh array makes V8 move it off
 * the heap, which costs more than the hashing (the repair path does this several times per record).
 */
export function putU32(out: Uint8Array, at: number, x: number): void {
  out[at] = x >>> 24;
  out[at + 1] = x >>> 16;
  out[at + 2] = x >>> 8;
  out[at + 3] = x;
}

/** Big-endian u32 from bytes (the counterpart of putU32). */
export function getU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** The first 32 bits of a token as a number (leaf and prefix arithmetic uses them). */
export function tokenHi(token: Uint8Array): number {
  return ((token[0]! << 24) | (token[1]! << 16) | (token[2]! << 8) | token[3]!) >>> 0;
}

export function valueHash(value: Uint8Array): Hash64 {
  return hash64(value, valueSeed);
}

/**
 * Fingerprint of one record: covers the key, the encoded version, the tombstone flag and the value's hash, so
 * a replica whose value bytes rotted under an unchanged version has a different fingerprint.
 */
export function fingerprintOf(
  key: Uint8Array,
  encodedVersion: Uint8Array,
  tombstone: boolean,
  vh: Hash64,
): Hash64 {
  const length = 2 + key.length + encodedVersion.length + 1 + 8;
  // One scratch buffer for every fingerprint (hashing is synchronous): no allocation per record.
  if (fingerprintScratch.length < length)
    fingerprintScratch = new Uint8Array(Math.max(length, 2 * fingerprintScratch.length));
  const buf = fingerprintScratch;
  buf[0] = key.length >>> 8;
  buf[1] = key.length;
  buf.set(key, 2);
  let at = 2 + key.length;
  buf.set(encodedVersion, at);
  at += encodedVersion.length;
  buf[at] = tombstone ? 1 : 0;
  putU32(buf, at + 1, vh[0]);
  putU32(buf, at + 5, vh[1]);
  return hash64(buf.subarray(0, length), fingerprintSeed);
}

let fingerprintScratch = new Uint8Array(4096);
