// Output helpers: JSON when --json, readable text otherwise; the one-line failure form; plurals.

import { ConvergeClientError } from '../client/index.js';

export function print(opts: { json?: boolean }, value: unknown, text: string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(value)}\n`);
  else if (text !== '') process.stdout.write(`${text}\n`);
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function age(ms: number | null): string {
  if (ms === null) return 'never';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

/** Writes bytes to stdout as they are and waits until they are handed to the OS (large values, pipes). */
export function writeOut(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * A reader that went away (`converge get k | head -c1`) closes the pipe: that ends the command quietly, as
 * it ends `cat`, instead of with an EPIPE stack trace.
 */
export function endQuietlyOnClosedPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`converge: cannot write to stdout: ${err.message}\n`);
    process.exit(1);
  });
}

/** One line, `converge: reason`; a node's refusal keeps its code, which scripts and docs/errors.md use. */
export function failureLine(err: unknown): string {
  const reason = err instanceof Error ? err.message : String(err);
  const fromNode =
    err instanceof ConvergeClientError && err.status !== undefined && err.code !== 'NOT_A_NODE';
  const code = fromNode ? ` (${(err as ConvergeClientError).code})` : '';
  return `converge: ${reason.split('\n')[0]}${code}${fromNode ? roleHint((err as ConvergeClientError).code) : ''}\n`;
}

/** Which kind of token a refused command needs, and where it comes from (docs/security.md#roles). */
function roleHint(code: string): string {
  if (code !== 'TOKEN_NOT_OPERATOR') return '';
  return (
    ': this command needs an operator token (a line "operator TOKEN NAME" in the node\'s ' +
    '--client-tokens-file), given with --token-file, CONVERGE_TOKEN_FILE or CONVERGE_TOKEN'
  );
}

/**
 * commander writes `error: unknown option '--x'`: the documented form is `converge: unknown option '--x'`.
 */
export function usageLine(text: string): string {
  return `converge: ${
    text
      .trim()
      .replace(/^error: /, '')
      .split('\n')[0]
  }\n`;
}

/** `1 session`, `2 sessions`; `1 history`, `3 histories` (pass the plural when it is not NOUN + s). */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}
