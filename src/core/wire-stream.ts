// The streaming fast path's messages: a new owner asks a source for every record under some partitions, a
// large page at a time, bounded by records and by bytes (a range fetch sized for bulk transfer). A node that
// does not know these types answers PROTOCOL_INVALID, and the new owner falls back to an ordinary session.

import { ConvergeError } from './errors.js';
import type { VersionedRecord } from './record.js';
import { readHeader, recordsPerMessageMax, roundItemsMax, wireMessageBytesMax, wireVersion } from './wire.js';
import { invalid, WireReader, WireWriter } from './wire-buffer.js';
import {
  type RangeCursor,
  readCursor,
  readRanges,
  readRecords,
  recordBytes,
  writeCursor,
  writeRanges,
  writeRecords,
} from './wire-repair.js';

export const StreamMessageType = {
  streamRequest: 13,
  streamResponse: 14,
} as const;

/** A page's byte bound stays well inside one message (record framing and the cursor come on top). */
export const streamPageBytesLimit = wireMessageBytesMax / 2;

export interface StreamRequest {
  /** Digest prefixes (partition ranges), in token order. */
  readonly ranges: readonly { readonly level: number; readonly index: number }[];
  /** The first range resumes after this record (the cursor of the previous page). */
  readonly after?: RangeCursor;
  /** The page carries at most this many records... */
  readonly recordsMax: number;
  /** ...and stops adding records once past this many bytes (at least one record always goes). */
  readonly bytesMax: number;
}

export interface StreamResponse {
  /** How many ranges were answered whole. */
  readonly processed: number;
  /** Set when range `processed` was cut short: it continues after this record. */
  readonly next?: RangeCursor;
  /** The source's records, in token order. */
  readonly records: readonly VersionedRecord[];
}

function start(type: number, bytes: number): WireWriter {
  const w = new WireWriter(bytes);
  w.u8(wireVersion);
  w.u8(type);
  return w;
}

export function encodeStreamRequest(req: StreamRequest): Uint8Array {
  if (req.ranges.length > roundItemsMax)
    throw new ConvergeError('PROTOCOL_TOO_LARGE', 'too many ranges for one stream request');
  const w = start(StreamMessageType.streamRequest, 32 + 5 * req.ranges.length);
  w.varuint(req.recordsMax);
  w.varuint(req.bytesMax);
  writeRanges(w, req.ranges);
  writeCursor(w, req.after);
  return w.finish();
}

export function decodeStreamRequest(bytes: Uint8Array): StreamRequest {
  const r = new WireReader(bytes);
  readHeader(r, StreamMessageType.streamRequest, bytes);
  const recordsMax = r.varuint('records max', recordsPerMessageMax);
  if (recordsMax === 0) throw invalid('a stream request must allow at least one record');
  const bytesMax = r.varuint('bytes max', streamPageBytesLimit);
  if (bytesMax === 0) throw invalid('a stream request must allow at least one byte');
  const ranges = readRanges(r);
  if (ranges.length === 0) throw invalid('a stream request names at least one range');
  const after = readCursor(r);
  r.end('stream request');
  return after === undefined ? { ranges, recordsMax, bytesMax } : { ranges, after, recordsMax, bytesMax };
}

export function encodeStreamResponse(res: StreamResponse): Uint8Array {
  const w = start(StreamMessageType.streamResponse, 64 + recordBytes(res.records));
  w.u32(res.processed);
  writeCursor(w, res.next);
  writeRecords(w, res.records);
  return w.finish();
}

export function decodeStreamResponse(bytes: Uint8Array): StreamResponse {
  const r = new WireReader(bytes);
  readHeader(r, StreamMessageType.streamResponse, bytes);
  const processed = r.u32('processed');
  const next = readCursor(r);
  const records = readRecords(r);
  r.end('stream response');
  return next === undefined ? { processed, records } : { processed, next, records };
}
