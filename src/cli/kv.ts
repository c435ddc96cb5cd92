// `converge put|get|del KEY [VALUE] --node URL [--consistency one|quorum|all]`

import type { Command } from 'commander';
import { type BulkOptions, runBulkPut } from './bulk.js';
import { CliError, baseUrl, call, errorMessage, json, withClientOptions } from './client.js';
import { print } from './output.js';

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

function kvUrl(opts: KvOptions, key: string): string {
  return `${baseUrl(opts.node)}/kv/${encodeURIComponent(key)}?consistency=${encodeURIComponent(opts.consistency)}`;
}

export function registerKv(program: Command): void {
  const common = (c: Command): Command =>
    withClientOptions(c)
      .option('--node <url>', 'node to send the request to', 'http://127.0.0.1:7101')
      .option('--consistency <level>', 'one | quorum | all', 'quorum')
      .option('--json', 'machine-readable output');

  common(program.command('put [key] [value]').description('write a value (use - or omit VALUE to read stdin), or --file FILE'))
    .option('--file <file>', 'bulk load: lines of KEY<TAB>VALUE or {"key","value"} through the batch API')
    .option('--batch-size <n>', 'with --file: keys per batch request (default 500)')
    .option('--parallel <n>', 'with --file: batch requests in flight (default 4)')
    .action(async (key: string | undefined, value: string | undefined, opts: KvOptions & Partial<BulkOptions>) => {
      if (opts.file !== undefined) return runBulkPut({ ...opts, file: opts.file });
      if (key === undefined) throw new CliError('put needs KEY [VALUE], or --file FILE');
      const bytes = value === undefined || value === '-' ? await readStdin() : new TextEncoder().encode(value);
      const result = json<{ version: string; acknowledged: string[]; unreachable: string[]; hinted: string[] }>(
        await call('PUT', kvUrl(opts, key), bytes),
      );
      print(opts, result, `ok  version ${result.version}  acknowledged by ${result.acknowledged.join(', ')}${result.unreachable.length > 0 ? `  unreachable: ${result.unreachable.join(', ')}` : ''}`);
    });

  common(program.command('get <key>').description('read a value')).action(async (key: string, opts: KvOptions) => {
    const res = await call('GET', kvUrl(opts, key));
    if (res.status !== 200) throw new CliError(errorMessage(JSON.parse(res.body.toString() || '{}'), res.status));
    const version = String(res.headers['x-converge-version'] ?? '');
    if (opts.json) print(opts, { key, value: res.body.toString('utf8'), version }, '');
    else process.stdout.write(`${res.body.toString('utf8')}\n`);
  });

  common(program.command('del <key>').description('delete a key (writes a tombstone)')).action(async (key: string, opts: KvOptions) => {
    const result = json<{ version: string; acknowledged: string[] }>(await call('DELETE', kvUrl(opts, key)));
    print(opts, result, `deleted  version ${result.version}  acknowledged by ${result.acknowledged.join(', ')}`);
  });
}
