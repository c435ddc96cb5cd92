// Parsers for the values operators type: durations, sizes, peer lists, listen addresses. Each failure names
// the option and what was wrong, in one line.

import { ConvergeError } from '../core/errors.js';

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `2s`, `10m`, `1h`. A bare number is refused: `5` meant as seconds would run every 5 ms. */
export function parseDuration(option: string, text: string): number {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) {
    throw configError(`${option}: "${text}" has no unit: write ${trimmed}ms, ${trimmed}s or ${trimmed}m`);
  }
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(trimmed);
  if (m === null) throw configError(`${option}: "${text}" is not a duration (examples: 500ms, 2s, 10m)`);
  const ms = Number(m[1]) * (durationUnits[m[2]!] ?? 1);
  if (!Number.isFinite(ms) || ms <= 0) throw configError(`${option}: the duration must be positive`);
  // Durations are whole milliseconds: a shorter one would round to 0 and mean "no time at all".
  if (ms < 0.5) throw configError(`${option}: "${text}" is shorter than the smallest duration, 1ms`);
  return Math.round(ms);
}

const sizeUnits: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
};

/** `512`, `64KiB`, `1MiB`, `2GiB` (bytes). */
export function parseSize(option: string, text: string): number {
  const m = /^(\d+)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = sizeUnits[(m?.[2] ?? '').toLowerCase() || 'b'];
  if (m === null || unit === undefined)
    throw configError(`${option}: "${text}" is not a size (examples: 512, 64KiB, 1MiB)`);
  return Number(m[1]) * unit;
}

export function parseInteger(option: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw configError(`${option}: "${text}" must be an integer from ${min} to ${max}`);
  return n;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export function parseListen(option: string, text: string): ListenAddress {
  const m = /^(.*):(\d+)$/.exec(text.trim());
  if (m === null || m[1] === '') throw configError(`${option}: "${text}" is not HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw configError(`${option}: port ${port} is out of range`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** `ID=URL,ID=URL` */
export function parsePeers(option: string, text: string): Array<{ id: string; url: string }> {
  if (text.trim() === '') return [];
  const peers = text.split(',').map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw configError(`${option}: "${part}" is not ID=URL`);
    const id = part.slice(0, eq).trim();
    const url = part
      .slice(eq + 1)
      .trim()
      .replace(/\/+$/, '');
    validateNodeId(option, id);
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      throw configError(`${option}: "${url}" (peer ${id}) is not an http:// or https:// URL`);
    }
    return { id, url };
  });
  const ids = new Set<string>();
  for (const p of peers) {
    if (ids.has(p.id)) throw configError(`${option}: peer ${p.id} is listed twice`);
    ids.add(p.id);
  }
  return peers;
}

export function validateNodeId(option: string, id: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id))
    throw configError(`${option}: node id "${id}" must be 1-64 characters of A-Z a-z 0-9 _ . -`);
  return id;
}

export function configError(message: string): ConvergeError {
  return new ConvergeError('CONFIG_INVALID', message);
}
