// `converge put|get|del KEY [VALUE] --node URL [--consistency one|quorum|all]`. Values are bytes: `get`
// writes them to stdout unchanged (no newline added), and `--json` carries a value that is not UTF-8 as
// base64.

import type { Command } from 'commander';
import type { Consistency } from '../client/index.js';
import { ConvergeClientError, type WriteResult } from '../client/index.js';
import { type BulkOptions, runBulkPut } from './bulk.js';
import { CliError, clientFor, withClientOptions } from './client.js';
import { print, writeOut } from './output.js';

interface KvOptions {
  node: string;
  consistency: string;
  json?: boolean;
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The value as --json shows it: text when it is valid UTF-8, base64 otherwise (`encoding` says which). */
export function jsonValue(value: Uint8Array): { value: string; encoding: 'utf8' | 'base64' } {
  try {
    return { value: strictUtf8.decode(value), encoding: 'utf8' };
  } catch {
    return {
      value: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
      encoding: 'base64',
    };
  }
}

/**
 * A write that missed its consistency level was still persisted by the replicas that acknowledged it: they
 * keep it, and hints and anti-entropy carry it to the others later. The node's message says how many; this
 * says what that means.
 */
export function explainFailedWrite(err: unknown): unknown {
  if (!(err instanceof ConvergeClientError) || err.code !== 'UNAVAILABLE' || err.status !== 503) return err;
  const acknowledged = err.details?.acknowledged;
  if (!Array.isArray(acknowledged) || acknowledged.length === 0) return err;
  const who = acknowledged.join(', ');
  const them = acknowledged.length === 1 ? 'it keeps' : 'they keep';
  err.message = `${err.message}. Not undone: ${who} took the write and ${them} it; hints and anti-entropy spread it to the other replicas later`;
  return err;
}

export function registerKv(program: Command): void {
  const common = (c: Command): Command =>
    withClientOptions(c)
      .option('--node <url>', 'node to send the request to', 'http://127.0.0.1:7101')
      .option('--consistency <level>', 'one | quorum | all', 'quorum')
      .option('--json', 'machine-readable output');

  common(
    program
      .command('put [key] [value]')
      .description('write a value (use - or omit VALUE to read stdin), or --file FILE'),
  )
    .option('--file <file>', 'bulk load: lines of KEY<TAB>VALUE or {"key","value"} through the batch API')
    .option('--batch-size <n>', 'with --file: keys per batch request (default 500)')
    .option('--parallel <n>', 'with --file: batch requests in flight (default 4)')
    .action(
      async (key: string | undefined, value: string | undefined, opts: KvOptions & Partial<BulkOptions>) => {
        if (opts.file !== undefined) return runBulkPut({ ...opts, file: opts.file });
        if (key === undefined) throw new CliError('put needs KEY [VALUE], or --file FILE');
        const bytes =
          value === undefined || value === '-' ? await readStdin() : new TextEncoder().encode(value);
        const result = await write(() =>
          clientFor(opts).put(key, bytes, { consistency: opts.consistency as Consistency }),
        );
        const unreachable =
          result.unreachable.length > 0 ? `  unreachable: ${result.unreachable.join(', ')}` : '';
        print(
          opts,
          result,
          `ok  version ${result.version}  acknowledged by ${result.acknowledged.join(', ')}${unreachable}`,
        );
      },
    );

  common(program.command('get <key>').description('read a value; its bytes go to stdout unchanged')).action(
    async (key: string, opts: KvOptions) => {
      const read = await clientFor(opts).get(key, { consistency: opts.consistency as Consistency });
      if (opts.json) print(opts, { key, ...jsonValue(read.value), version: read.version }, '');
      else await writeOut(read.value);
    },
  );

  common(program.command('del <key>').description('delete a key (writes a tombstone)')).action(
    async (key: string, opts: KvOptions) => {
      const result = await write(() =>
        clientFor(opts).delete(key, { consistency: opts.consistency as Consistency }),
      );
      print(
        opts,
        result,
        `deleted  version ${result.version}  acknowledged by ${result.acknowledged.join(', ')}`,
      );
    },
  );
}

async function write(run: () => Promise<WriteResult>): Promise<WriteResult> {
  try {
    return await run();
  } catch (err) {
    throw explainFailedWrite(err);
  }
}
