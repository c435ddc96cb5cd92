// One level of a replica's digest tree in a compact JSON form for the keyspace view: 16 hex digits per prefix
// plus the record count under it. Level 10 (1,024 prefixes) is the limit: finer levels would not fit the
// screen and would only cost bandwidth on every poll.

import type { DigestTree } from '../../core/digest.js';
import { ConvergeError } from '../../core/errors.js';
import type { DigestLevelView } from './types.js';

export const digestLevelMax = 10;

/**
 * Parses the `level` query parameter; refuses anything but an integer in [0, min(digestLevelMax, leafBits)].
 */
export function parseLevel(raw: unknown, leafBits: number): number {
  const limit = Math.min(digestLevelMax, leafBits);
  const text = typeof raw === 'string' ? raw : '';
  const level = /^\d{1,2}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(level) || level < 0 || level > limit) {
    throw new ConvergeError(
      'LIMIT_EXCEEDED',
      `level must be an integer from 0 to ${limit} (digestLevelMax)`,
      {
        level: raw ?? null,
      },
    );
  }
  return level;
}

function hex8(word: number): string {
  return word.toString(16).padStart(8, '0');
}

export function digestLevelView(
  id: string,
  tree: DigestTree,
  level: number,
  ready: boolean,
): DigestLevelView {
  const width = 2 ** level;
  const parts: string[] = new Array<string>(width);
  const counts: number[] = new Array<number>(width);
  for (let i = 0; i < width; i++) {
    const n = tree.node(level, i);
    parts[i] = hex8(n.hi) + hex8(n.lo);
    counts[i] = n.count;
  }
  return { id, level, leafBits: tree.leafBits, ready, root: tree.rootHex(), hashes: parts.join(''), counts };
}
