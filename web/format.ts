// Human-readable numbers, durations and ages for the dashboard.

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The noun that goes with n: `1 round trip`, `2 round trips` (pass the plural when it is not NOUN + s). */
export function nounFor(n: number, noun: string, nouns = `${noun}s`): string {
  return n === 1 ? noun : nouns;
}

export function durationMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** "4.2 s ago" from a timestamp and the time it is measured against. */
export function ago(thenMs: number | null, nowMs: number): string {
  if (thenMs === null) return 'never';
  const d = nowMs - thenMs;
  return d < 500 ? 'just now' : `${durationMs(d)} ago`;
}

export function inTime(thenMs: number | null, nowMs: number): string {
  if (thenMs === null) return '—';
  const d = thenMs - nowMs;
  return d <= 0 ? 'due now' : `in ${durationMs(d)}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

export function percent(fraction: number): string {
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

/** The first hex digits of a digest root: enough to tell roots apart at a glance. */
export function shortRoot(root: string): string {
  return root.slice(0, 8);
}
