// The join story's last check: every acknowledged write reads at quorum through the newcomer. A read that
// throws (a timeout or too few replicas answering on a loaded machine) is not an answer and is tried again, a
// bounded number of times; a read that answers "not found" is the answer, never retried. Every key that ends
// unreadable is recorded with how: the error code of its last failed read, or the replicas that answered
// "not found" and the members that hold the key at that moment (a lost write and a misrouted read look alike
// in a count, not in these).

import { ConvergeError } from '../../core/errors.js';
import { keyToBytes } from '../../core/record.js';
import type { LocalCluster } from '../cluster.js';
import { pause } from './evidence.js';
import type { Narrator } from './narrate.js';

/** A read that throws is tried this many times in all, `readRetryStepMs` × attempt apart. */
export const readAttemptsMax = 5;
const readRetryStepMs = 250;
/**
 * Reads in flight at once. Each asks two peers over pools of 16 connections each (http-transport.ts): with
 * 100 at once on a machine at load ~15, 4,287 of 4,311 reads failed in one run, both peers unreachable (their
 * calls timing out at 2 s, as a traced run showed) while all three replicas held every key.
 */
const readsInFlightMax = 25;

/** One key that did not read: how (`error` with its code, or `not-found` with who answered) and where. */
export interface UnreadableKey {
  readonly key: string;
  readonly via: string;
  readonly kind: 'error' | 'not-found';
  /** The last error's code (`ConvergeError`), or its name for another error; null for a not-found. */
  readonly code: string | null;
  readonly message: string;
  /** The replicas whose answers made the not-found (empty for an error). */
  readonly replied: readonly string[];
  /** The running members that hold a live copy of the key locally, looked at right after the read. */
  readonly holders: readonly string[];
}

export interface ReadCheck {
  readonly keys: number;
  readonly unreadable: readonly UnreadableKey[];
  /** Failed attempts that were followed by another attempt of the same key. */
  readonly retried: number;
  /** Every failed attempt (retried or last) by error code. */
  readonly failedAttempts: ReadonlyMap<string, number>;
}

function holdersOf(cluster: LocalCluster, key: string): string[] {
  const k = keyToBytes(key);
  return [...cluster.running]
    .filter(([, r]) => {
      const rec = r.ctx.replica.get(k);
      return rec !== undefined && !rec.tombstone;
    })
    .map(([id]) => id);
}

/** The via node's installed membership, for a not-found: a read routed by a stale state would show here. */
function membershipOf(cluster: LocalCluster, id: string): string {
  const s = cluster.node(id).ctx.services.membership?.current();
  if (s === undefined) return 'runs no membership';
  return `at epoch ${s.epoch}${s.change === null ? '' : `, ${s.change.kind} of ${s.change.member} running`}`;
}

interface Tally {
  retried: number;
  readonly failed: Map<string, number>;
}

async function readOne(
  cluster: LocalCluster,
  via: string,
  key: string,
  tally: Tally,
): Promise<UnreadableKey | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await cluster.node(via).ctx.node.get(key, 'quorum');
      if (r.found) return null;
      const holders = holdersOf(cluster, key);
      const message = `answered not found by ${r.replied.join(', ')} (${via} ${membershipOf(cluster, via)})`;
      return { key, via, kind: 'not-found', code: null, message, replied: r.replied, holders };
    } catch (err) {
      const code = err instanceof ConvergeError ? err.code : err instanceof Error ? err.name : 'unknown';
      tally.failed.set(code, (tally.failed.get(code) ?? 0) + 1);
      if (attempt < readAttemptsMax) {
        tally.retried += 1;
        await pause(readRetryStepMs * attempt);
        continue;
      }
      const message = err instanceof Error ? err.message : String(err);
      return { key, via, kind: 'error', code, message, replied: [], holders: holdersOf(cluster, key) };
    }
  }
}

/** Reads every key at quorum through `via`, `readsInFlightMax` at a time. */
export async function checkReads(
  cluster: LocalCluster,
  via: string,
  keys: readonly string[],
): Promise<ReadCheck> {
  const unreadable: UnreadableKey[] = [];
  const tally: Tally = { retried: 0, failed: new Map() };
  for (let i = 0; i < keys.length; i += readsInFlightMax) {
    const out = await Promise.all(
      keys.slice(i, i + readsInFlightMax).map((k) => readOne(cluster, via, k, tally)),
    );
    for (const u of out) if (u !== null) unreadable.push(u);
  }
  return { keys: keys.length, unreadable, retried: tally.retried, failedAttempts: tally.failed };
}

/** The check's lines: not-found and failed reads counted apart, by code, with the first few keys of each. */
export function narrateReads(n: Narrator, c: ReadCheck): void {
  const notFound = c.unreadable.filter((u) => u.kind === 'not-found');
  const failed = c.unreadable.filter((u) => u.kind === 'error');
  n.detail(
    `acknowledged writes not readable at quorum: ${n.figure('missing', c.unreadable.length)} of ${c.keys} ` +
      `(answered not found: ${n.figure('missing.notFound', notFound.length)}; read failed ` +
      `${readAttemptsMax} times: ${n.figure('missing.failed', failed.length)})`,
  );
  if (c.failedAttempts.size > 0) {
    const codes = [...c.failedAttempts].map(([code, k]) => `${code} × ${k}`).join(', ');
    n.detail(`(reads that failed, tried again up to ${readAttemptsMax} times in all: ${codes})`);
  }
  for (const u of [...notFound.slice(0, 5), ...failed.slice(0, 3)]) {
    n.detail(
      `  “${u.key}” through ${u.via}: ${u.kind === 'error' ? `${u.code}: ${u.message}` : u.message}; ` +
        `held by ${u.holders.join(', ') || 'no member'}`,
    );
  }
}
