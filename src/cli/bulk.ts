// `converge put --file FILE`: bulk loads a file of keys and values through the batch API (POST /kv), several
// batches in flight, with a progress bar. The whole file is checked before the first batch is sent, so a bad
// line loads nothing. A batch refused OVERLOADED was applied nowhere: it is sent again after Retry-After.

import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import type { BatchOperation, Client, Consistency } from '../client/index.js';
import { CliError, clientFor } from './client.js';
import { print } from './output.js';

export interface BulkOptions {
  readonly node: string;
  readonly ca?: unknown;
  readonly tokenFile?: unknown;
  readonly timeout?: unknown;
  readonly consistency: string;
  readonly json?: boolean;
  readonly file: string;
  readonly batchSize?: string;
  readonly parallel?: string;
}

/** Bytes of one request body we aim under (the server's default batchBytesMax is 4 MiB). */
const batchBodyBytesTarget = 2 * 2 ** 20;
/** A batch refused OVERLOADED was applied nowhere; the client sends it again up to this many times. */
const overloadedRetriesMax = 30;

interface Summary {
  written: number;
  failed: number;
  batches: number;
  retried: number;
  seconds: number;
  keysPerSecond: number;
  firstFailures: string[];
}

export async function runBulkPut(opts: BulkOptions): Promise<void> {
  const batchSize = positiveInt('--batch-size', opts.batchSize ?? '500');
  const parallel = positiveInt('--parallel', opts.parallel ?? '4');
  const lines = readLines(opts.file);
  const batches = chunk(lines, batchSize);
  const client = clientFor(opts).forNode(opts.node, { retries: overloadedRetriesMax });
  const consistency = opts.consistency as Consistency;
  const bar =
    opts.json || !process.stderr.isTTY
      ? undefined
      : new SingleBar({
          format: 'put [{bar}] {percentage}% | {value}/{total} keys | ETA {eta_formatted}',
          hideCursor: true,
          stream: process.stderr,
        });
  bar?.start(lines.length, 0);
  const summary: Summary = {
    written: 0,
    failed: 0,
    batches: batches.length,
    retried: 0,
    seconds: 0,
    keysPerSecond: 0,
    firstFailures: [],
  };
  const started = performance.now();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(parallel, batches.length) }, async () => {
        while (next < batches.length) {
          const batch = batches[next++]!;
          await sendBatch(client, consistency, batch, summary);
          bar?.increment(batch.length);
        }
      }),
    );
  } finally {
    bar?.stop();
  }
  summary.seconds = Number(((performance.now() - started) / 1000).toFixed(3));
  summary.keysPerSecond = Math.round(summary.written / Math.max(summary.seconds, 0.001));
  print(
    opts,
    summary,
    `wrote ${summary.written} keys in ${summary.batches} batches (${summary.keysPerSecond} keys/s), ` +
      `${summary.failed} failed${summary.failed > 0 ? `: ${summary.firstFailures.join('; ')}` : ''}`,
  );
  if (summary.failed > 0)
    throw new CliError(`${summary.failed} keys did not reach consistency ${opts.consistency}`);
}

async function sendBatch(
  client: Client,
  consistency: Consistency,
  ops: BatchOperation[],
  summary: Summary,
): Promise<void> {
  const answer = await client.batch(ops, { consistency });
  for (const r of answer.results) {
    if (r.ok) summary.written += 1;
    else {
      summary.failed += 1;
      if (summary.firstFailures.length < 3) summary.firstFailures.push(`${r.key}: ${r.error.message}`);
    }
  }
}

/** Lines: a JSON object ({"key", "value"|"valueBase64"[, "op"]}) or KEY<TAB>VALUE; blank ones skipped. */
function readLines(file: string): BatchOperation[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--file ${file}: ${(err as Error).message}`);
  }
  const out: BatchOperation[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.trimStart().startsWith('{')) {
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw new CliError(`${file} line ${i + 1}: not valid JSON`);
      }
      out.push(operationOf(o, `${file} line ${i + 1}`));
      continue;
    }
    const tab = line.indexOf('\t');
    if (tab <= 0) throw new CliError(`${file} line ${i + 1}: expected KEY<TAB>VALUE or a JSON object`);
    out.push({ key: line.slice(0, tab), value: line.slice(tab + 1) });
  }
  if (out.length === 0) throw new CliError(`${file}: no keys to write`);
  return out;
}

function operationOf(o: unknown, where: string): BatchOperation {
  const { op, key, value, valueBase64 } = (o ?? {}) as Record<string, unknown>;
  if (typeof key !== 'string' || key === '') throw new CliError(`${where}: "key" must be a non-empty string`);
  if (op === 'del') return { op: 'del', key };
  if (op !== undefined && op !== 'put') throw new CliError(`${where}: "op" must be "put" or "del"`);
  if (typeof value === 'string') return { key, value };
  if (typeof valueBase64 === 'string')
    return { key, value: new Uint8Array(Buffer.from(valueBase64, 'base64')) };
  throw new CliError(`${where}: a put needs "value" (a string) or "valueBase64"`);
}

/** Batches of at most `size` operations and about batchBodyBytesTarget bytes each. */
function chunk(ops: BatchOperation[], size: number): BatchOperation[][] {
  const out: BatchOperation[][] = [];
  let current: BatchOperation[] = [];
  let bytes = 0;
  for (const op of ops) {
    const opBytes = op.key.length + 64 + ('value' in op ? op.value.length * 2 : 0);
    if (current.length > 0 && (current.length >= size || bytes + opBytes > batchBodyBytesTarget)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += opBytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function positiveInt(option: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${option} must be a positive integer (got ${text})`);
  return n;
}
