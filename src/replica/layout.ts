// How a replica lays its data out in the storage engine's single ordered keyspace (docs/architecture.md):
//   'r' | token (8) | key      → stored record (core encodeRecordValue)
//   't' | ms (6) | token (8) | key → '' : tombstone index by version time, so purging never scans records
//   'h' | …                    → hinted handoff (cluster/)
//   'm' | name                 → metadata (anti-entropy checkpoints, history, watermarks)

export const recordPrefix = 0x72; // 'r'
export const tombstonePrefix = 0x74; // 't'
export const hintPrefix = 0x68; // 'h'
export const metaPrefix = 0x6d; // 'm'

export function recordKey(token: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + 8 + key.length);
  out[0] = recordPrefix;
  out.set(token, 1);
  out.set(key, 9);
  return out;
}

/** Splits a record storage key into token and key (views, no copy). */
export function splitRecordKey(storageKey: Uint8Array): { token: Uint8Array; key: Uint8Array } {
  return { token: storageKey.subarray(1, 9), key: storageKey.subarray(9) };
}

/** Storage bound of a token (or token prefix) within the record prefix. */
export function recordBound(token: Uint8Array | undefined): Uint8Array {
  if (token === undefined) return Uint8Array.of(recordPrefix + 1);
  const out = new Uint8Array(1 + token.length);
  out[0] = recordPrefix;
  out.set(token, 1);
  return out;
}

export function tombstoneKey(ms: number, token: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + 6 + 8 + key.length);
  out[0] = tombstonePrefix;
  writeMs(out, 1, ms);
  out.set(token, 7);
  out.set(key, 15);
  return out;
}

export function tombstoneBound(ms: number): Uint8Array {
  const out = new Uint8Array(7);
  out[0] = tombstonePrefix;
  writeMs(out, 1, ms);
  return out;
}

export function splitTombstoneKey(k: Uint8Array): { ms: number; token: Uint8Array; key: Uint8Array } {
  const view = new DataView(k.buffer, k.byteOffset, k.byteLength);
  const ms = view.getUint16(1) * 2 ** 32 + view.getUint32(3);
  return { ms, token: k.subarray(7, 15), key: k.subarray(15) };
}

export function metaKey(name: string): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  const out = new Uint8Array(1 + bytes.length);
  out[0] = metaPrefix;
  out.set(bytes, 1);
  return out;
}

function writeMs(out: Uint8Array, at: number, ms: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint16(at, Math.floor(ms / 2 ** 32));
  view.setUint32(at + 2, ms % 2 ** 32);
}
