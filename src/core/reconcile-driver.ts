// Runs a reconciliation to the end over any request/response channel, and answers the repair messages.
// The anti-entropy sessions, `converge diff`, the benchmarks and the property tests all drive it.

import { prefixRange } from './digest.js';
import { ConvergeError } from './errors.js';
import { type ResponderLimits, responderLimitsDefault, respondRound } from './reconcile-responder.js';
import type { Difference, ReplicaReader } from './reconcile-types.js';
import type { Reconciler } from './reconciler.js';
import type { VersionedRecord } from './record.js';
import { compareBytes } from './sorted.js';
import { respondItemHeaders, respondSymbols } from './symbol-responder.js';
import { MessageType, peekType } from './wire.js';
import {
  decodeFetchRequest,
  decodePushRequest,
  decodeRangeFetchRequest,
  encodeFetchResponse,
  encodePushResponse,
  encodeRangeFetchResponse,
  type RangeCursor,
  type RangeFetchRequest,
  type RangeFetchResponse,
  recordWireBytes,
} from './wire-repair.js';
import { SymbolMessageType } from './wire-symbols.js';

export type Exchange = (request: Uint8Array) => Promise<Uint8Array>;

/** Runs rounds until the frontier is empty; `onRound` sees each round's differences (e.g. to repair them). */
export async function reconcile(
  reconciler: Reconciler,
  exchange: Exchange,
  onRound?: (differences: Difference[]) => Promise<void> | void,
): Promise<Difference[]> {
  const all: Difference[] = [];
  for (let req = reconciler.nextRequest(); req !== null; req = reconciler.nextRequest()) {
    const diffs = reconciler.onResponse(await exchange(req));
    if (onRound !== undefined) await onRound(diffs);
    else all.push(...diffs);
  }
  return all;
}

export interface RepairResponderLimits extends ResponderLimits {
  /** A fetch response stops adding records past this many bytes. */
  readonly fetchResponseBytesMax: number;
}

export const repairResponderLimitsDefault: RepairResponderLimits = {
  ...responderLimitsDefault,
  fetchResponseBytesMax: 8 * 2 ** 20,
};

/** Answers any reconciliation or repair message; `apply` merges pushed records into the replica. */
export async function respond(
  reader: ReplicaReader,
  apply: (records: VersionedRecord[]) => Promise<{ applied: number; ignored: number }>,
  bytes: Uint8Array,
  limits: RepairResponderLimits = repairResponderLimitsDefault,
): Promise<Uint8Array> {
  const type = peekType(bytes);
  if (type === MessageType.roundRequest) return respondRound(reader, bytes, limits);
  if (type === SymbolMessageType.symbolRequest) return respondSymbols(reader, bytes);
  if (type === SymbolMessageType.itemHeadersRequest) return respondItemHeaders(reader, bytes);
  if (type === MessageType.fetchRequest) {
    const { keys } = decodeFetchRequest(bytes);
    const records: VersionedRecord[] = [];
    let size = 0;
    let processed = 0;
    const { roundBusyMsMax = Number.POSITIVE_INFINITY, busyNow = () => 0 } = limits;
    const startedAt = busyNow();
    for (const key of keys) {
      if (processed > 0 && (size > limits.fetchResponseBytesMax || busyNow() - startedAt >= roundBusyMsMax))
        break;
      const r = reader.get(key);
      if (r !== undefined) {
        records.push(r);
        size += recordWireBytes(r);
      }
      processed += 1;
    }
    return encodeFetchResponse({ processed, records });
  }
  if (type === MessageType.rangeFetchRequest) {
    return encodeRangeFetchResponse(
      answerRangeFetch(reader, decodeRangeFetchRequest(bytes), limits.fetchResponseBytesMax),
    );
  }
  if (type === MessageType.pushRequest) return encodePushResponse(await apply(decodePushRequest(bytes)));
  throw new ConvergeError('PROTOCOL_INVALID', `message type ${type} is not a request`);
}

/**
 * Every record under the requested prefixes, in token order, up to the record and byte bounds; a range cut
 * short comes with the cursor to continue it from.
 */
export function answerRangeFetch(
  reader: Pick<ReplicaReader, 'scanTokens'>,
  req: RangeFetchRequest,
  bytesMax: number,
): RangeFetchResponse {
  const records: VersionedRecord[] = [];
  let size = 0;
  let lastToken: Uint8Array | undefined;
  for (let i = 0; i < req.ranges.length; i++) {
    const { level, index } = req.ranges[i]!;
    const { start, end } = prefixRange(level, index);
    // Records up to and including the cursor were sent already (i = 0 only).
    let skipTo = i === 0 ? req.after : undefined;
    let from = skipTo !== undefined && compareBytes(skipTo.token, start) > 0 ? skipTo.token : start;
    // Storage is read no further than the batch needs (one record past the bound tells whether the range
    // goes on): a page read beyond it would be decoded for nothing, once per batch. Skipped records may use
    // up that budget; the scan then resumes from the last one read, reading further each time.
    let extra = 0;
    for (;;) {
      const readMax = req.recordsMax - records.length + 1 + extra;
      let read = 0;
      let last: RangeCursor | undefined;
      for (const { token, record } of reader.scanTokens(from, end, readMax)) {
        read += 1;
        last = { token, key: record.key };
        // Records sharing the cursor's token come in key order: skip up to and including the cursor's key.
        if (
          skipTo !== undefined &&
          compareBytes(token, skipTo.token) === 0 &&
          compareBytes(record.key, skipTo.key) <= 0
        )
          continue;
        if (records.length >= req.recordsMax || (records.length > 0 && size > bytesMax)) {
          return {
            processed: i,
            next: { token: lastToken!, key: records[records.length - 1]!.key },
            records,
          };
        }
        records.push(record);
        lastToken = token;
        size += recordWireBytes(record);
      }
      if (read < readMax) break; // the range is exhausted
      // Everything read was skipped or taken: go on after the later of the cursor and the last record read.
      if (skipTo === undefined || compareCursor(last!, skipTo) > 0) skipTo = last!;
      from = skipTo.token;
      extra += read;
    }
  }
  return { processed: req.ranges.length, records };
}

const compareCursor = (x: RangeCursor, y: RangeCursor): number =>
  compareBytes(x.token, y.token) || compareBytes(x.key, y.key);
