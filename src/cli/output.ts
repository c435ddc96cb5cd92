// Output helpers: JSON when --json, readable text otherwise.

export function print(opts: { json?: boolean }, value: unknown, text: string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(value)}\n`);
  else if (text !== '') process.stdout.write(`${text}\n`);
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function age(ms: number | null): string {
  if (ms === null) return 'never';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.round(ms / 60_000)}m`;
}
