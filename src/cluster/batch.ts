// The batch request body (docs/http-api.md, "Batches"): NDJSON, one operation per line. The whole body is
// parsed and checked against every limit before anything is applied, so a bad line refuses the batch and no
// replica ever holds half of it because of bad input.

import { ConvergeError } from '../core/errors.js';
import { keyToBytes } from '../core/record.js';

export interface BatchOp {
  readonly op: 'put' | 'del';
  readonly key: string;
  readonly keyBytes: Uint8Array;
  /** null for a delete. */
  readonly value: Uint8Array | null;
}

export interface BatchLimits {
  readonly batchKeysMax: number;
  readonly batchBytesMax: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses and checks a whole NDJSON batch: BATCH_INVALID, BATCH_TOO_LARGE, KEY_*, VALUE_TOO_LARGE. */
export function parseBatch(body: Uint8Array, limits: BatchLimits): BatchOp[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ConvergeError('BATCH_INVALID', 'the batch body is not UTF-8');
  }
  const ops: BatchOp[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    if (ops.length === limits.batchKeysMax) {
      throw new ConvergeError(
        'BATCH_TOO_LARGE',
        `the batch holds more than batchKeysMax ${limits.batchKeysMax} keys`,
        {
          batchKeysMax: limits.batchKeysMax,
        },
      );
    }
    const op = parseLine(line, i + 1, limits);
    if (seen.has(op.key)) throw lineError(i + 1, `key ${JSON.stringify(op.key)} is listed twice`);
    seen.add(op.key);
    bytes += op.keyBytes.length + (op.value?.length ?? 0);
    if (bytes > limits.batchBytesMax) {
      throw new ConvergeError(
        'BATCH_TOO_LARGE',
        `the batch's keys and values exceed batchBytesMax ${limits.batchBytesMax} bytes`,
        {
          batchBytesMax: limits.batchBytesMax,
        },
      );
    }
    ops.push(op);
  }
  if (ops.length === 0) throw new ConvergeError('BATCH_INVALID', 'the batch is empty');
  return ops;
}

function parseLine(line: string, lineNo: number, limits: BatchLimits): BatchOp {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw lineError(lineNo, 'not a JSON object');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw lineError(lineNo, 'not a JSON object');
  const o = parsed as Record<string, unknown>;
  const op = o.op ?? 'put';
  if (op !== 'put' && op !== 'del')
    throw lineError(lineNo, `op must be "put" or "del" (got ${JSON.stringify(op)})`);
  if (typeof o.key !== 'string' || o.key === '') throw lineError(lineNo, 'key must be a non-empty string');
  const keyBytes = keyToBytes(o.key);
  if (keyBytes.length > limits.keyBytesMax) {
    throw new ConvergeError(
      'KEY_TOO_LONG',
      `line ${lineNo}: key of ${keyBytes.length} bytes exceeds keyBytesMax ${limits.keyBytesMax}`,
    );
  }
  if (op === 'del') {
    if (o.value !== undefined || o.valueBase64 !== undefined)
      throw lineError(lineNo, 'a del carries no value');
    return { op, key: o.key, keyBytes, value: null };
  }
  const value = parseValue(o, lineNo);
  if (value.length > limits.valueBytesMax) {
    throw new ConvergeError(
      'VALUE_TOO_LARGE',
      `line ${lineNo}: value of ${value.length} bytes exceeds valueBytesMax ${limits.valueBytesMax}`,
    );
  }
  return { op, key: o.key, keyBytes, value };
}

function parseValue(o: Record<string, unknown>, lineNo: number): Uint8Array {
  if (o.value !== undefined && o.valueBase64 !== undefined)
    throw lineError(lineNo, 'give value or valueBase64, not both');
  if (typeof o.value === 'string') return new TextEncoder().encode(o.value);
  if (typeof o.valueBase64 === 'string') {
    if (o.valueBase64.length % 4 !== 0 || !base64Pattern.test(o.valueBase64))
      throw lineError(lineNo, 'valueBase64 is not base64');
    return new Uint8Array(Buffer.from(o.valueBase64, 'base64'));
  }
  throw lineError(lineNo, 'a put needs value (a string) or valueBase64');
}

function lineError(lineNo: number, what: string): ConvergeError {
  return new ConvergeError('BATCH_INVALID', `line ${lineNo}: ${what}`, { line: lineNo });
}
