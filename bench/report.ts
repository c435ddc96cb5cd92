// Output shared by the benchmarks: JSON lines with --json, an aligned table otherwise, and a peak-RSS
// sampler.

export type Row = Record<string, string | number>;

export class Report {
  private readonly rows: Row[] = [];

  constructor(private readonly json: boolean) {}

  add(row: Row): void {
    this.rows.push(row);
    if (this.json) process.stdout.write(`${JSON.stringify(row)}\n`);
  }

  print(columns: string[]): void {
    if (this.json) return;
    const cells = [columns, ...this.rows.map((r) => columns.map((c) => format(r[c])))];
    const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
    for (const row of cells)
      process.stdout.write(`${row.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`);
  }
}

function format(v: string | number | undefined): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toFixed(v < 10 ? 3 : 1);
}

/** Samples the process's resident set while `fn` runs; returns fn's result and the peak. */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakRssBytes: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakRssBytes: peak };
  } finally {
    clearInterval(timer);
  }
}

export function progress(label: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (!process.stderr.isTTY || (now - last < 250 && done < total)) return;
    last = now;
    process.stderr.write(`\r${label} ${Math.round((done / total) * 100)}%${done >= total ? '\n' : ''}`);
  };
}
