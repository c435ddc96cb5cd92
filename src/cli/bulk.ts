// `converge put --file FILE`: bulk loads a file of keys and values through the batch API (POST /kv), several
// batches in flight, with a progress bar. The whole file is checked before the first batch is sent, so a bad
// line loads nothing. A batch refused OVERLOADED was applied nowhere: it is sent again after Retry-After.

import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { CliError, baseUrl, call, errorMessage } from './client.js';
import { print } from './output.js';

export interface BulkOptions {
  readonly node: string;
  readonly consistency: string;
  readonly json?: boolean;
  readonly file: string;
  readonly batchSize?: string;
  readonly parallel?: string;
}

/** Bytes of one request body we aim under (the server's default batchBytesMax is 4 MiB). */
const batchBodyBytesTarget = 2 * 2 ** 20;
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
  const url = `${baseUrl(opts.node)}/kv?consistency=${encodeURIComponent(opts.consistency)}`;
  const bar = opts.json || !process.stderr.isTTY
    ? undefined
    : new SingleBar({ format: 'put [{bar}] {percentage}% | {value}/{total} keys | ETA {eta_formatted}', hideCursor: true, stream: process.stderr });
  bar?.start(lines.length, 0);
  const summary: Summary = { written: 0, failed: 0, batches: batches.length, retried: 0, seconds: 0, keysPerSecond: 0, firstFailures: [] };
  const started = performance.now();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(parallel, batches.length) }, async () => {
        while (next < batches.length) {
          const batch = batches[next++]!;
          await sendBatch(url, batch, summary);
          bar?.increment(batch.length);
        }
      }),
    );
  } finally {
    bar?.stop();
  }
  summary.seconds = Number(((performance.now() - started) / 1000).toFixed(3));
  summary.keysPerSecond = Math.round(summary.written / Math.max(summary.seconds, 0.001));
  print(opts, summary, `wrote ${summary.written} keys in ${summary.batches} batches (${summary.keysPerSecond} keys/s), ${summary.failed} failed${summary.failed > 0 ? `: ${summary.firstFailures.join('; ')}` : ''}`);
  if (summary.failed > 0) throw new CliError(`${summary.failed} keys did not reach consistency ${opts.consistency}`);
}

async function sendBatch(url: string, lines: string[], summary: Summary): Promise<void> {
  const body = new TextEncoder().encode(lines.join('\n'));
  for (let attempt = 0; ; attempt++) {
    const res = await call('POST', url, body);
    const parsed = parseJson(res.body.toString('utf8'), res.status);
    const code = (parsed as { error?: { code?: string } }).error?.code;
    if (res.status === 503 && code === 'OVERLOADED' && attempt < overloadedRetriesMax) {
      summary.retried += 1;
      const seconds = Number(res.headers['retry-after'] ?? 1);
      await new Promise((resolve) => setTimeout(resolve, 1000 * (Number.isFinite(seconds) ? seconds : 1)));
      continue;
    }
    if (res.status !== 200) throw new CliError(errorMessage(parsed, res.status));
    const answer = parsed as { results: Array<{ key: string; ok: boolean; error?: { code: string; message: string } }> };
    for (const r of answer.results) {
      if (r.ok) summary.written += 1;
      else {
        summary.failed += 1;
        if (summary.firstFailures.length < 3) summary.firstFailures.push(`${r.key}: ${r.error?.message ?? 'failed'}`);
      }
    }
    return;
  }
}

/** Each line is a JSON object ({"key", "value"|"valueBase64"[, "op"]}) or KEY<TAB>VALUE; blank lines are skipped. */
function readLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--file ${file}: ${(err as Error).message}`);
  }
  const out: string[] = [];
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
      if (typeof (o as { key?: unknown }).key !== 'string') throw new CliError(`${file} line ${i + 1}: "key" must be a string`);
      out.push(line);
      continue;
    }
    const tab = line.indexOf('\t');
    if (tab <= 0) throw new CliError(`${file} line ${i + 1}: expected KEY<TAB>VALUE or a JSON object`);
    out.push(JSON.stringify({ key: line.slice(0, tab), value: line.slice(tab + 1) }));
  }
  if (out.length === 0) throw new CliError(`${file}: no keys to write`);
  return out;
}

/** Batches of at most `size` lines and about batchBodyBytesTarget bytes each. */
function chunk(lines: string[], size: number): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    if (current.length > 0 && (current.length >= size || bytes + line.length > batchBodyBytesTarget)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += line.length + 1;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function parseJson(text: string, status: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`unexpected answer (HTTP ${status}): ${text.slice(0, 200)}`);
  }
}

function positiveInt(option: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${option} must be a positive integer (got ${text})`);
  return n;
}
