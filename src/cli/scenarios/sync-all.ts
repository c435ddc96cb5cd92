// `sync-all`: synchronous replication (consistency all) against background repair (consistency one plus
// anti-entropy) — what each costs in latency while every replica is up, and in availability when one is away.

import { ConvergeError } from '../../core/errors.js';
import { keyToBytes } from '../../core/record.js';
import type { RunningNode } from '../../server/server.js';
import type { LocalCluster } from '../cluster.js';
import { percentileMs, replicaFacts, settleReplication, writeKeys } from './evidence.js';
import { healAndAccount } from './heal.js';
import type { Narrator } from './narrate.js';

const timedWrites = 50;
const warmUpPairs = 5;
const orders = 20;
const text = (b: Uint8Array | undefined): string =>
  b === undefined ? '(none)' : new TextDecoder().decode(b);

/**
 * Writes `key` at one and at all by turns, `count` times each, timing each write as the client sees it. By
 * turns, so a noisy machine slows both alike; a few warm-up pairs are not counted.
 */
async function timedPairs(node: RunningNode, key: string, count: number): Promise<Timed> {
  const out: Timed = { one: [], all: [], failed: { one: 0, all: 0 } };
  for (let i = -warmUpPairs; i < count; i++) {
    for (const c of ['one', 'all'] as const) {
      const started = performance.now();
      // A replica slower than the request timeout fails a write at all: part of its cost, counted.
      const ok = await node.ctx.node.put(key, new TextEncoder().encode(`${c} ${i}`), c).then(
        () => true,
        () => false,
      );
      if (i < 0) continue;
      out[c].push(performance.now() - started);
      if (!ok) out.failed[c] += 1;
    }
  }
  return out;
}

interface Timed {
  readonly one: number[];
  readonly all: number[];
  readonly failed: { one: number; all: number };
}

async function latencyCost(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  await n.next(
    `Every replica is up. Key “balance” is written ${timedWrites} times at consistency one and ${timedWrites} times at consistency all, by turns, each write timed:`,
  );
  const { one, all, failed } = await timedPairs(cluster.node('n1'), 'balance', timedWrites);
  await settleReplication(cluster);
  const line = (label: 'one' | 'all', ms: number[]) =>
    `at ${label}: median ${n.figure(`latency.${label}.p50Ms`, percentileMs(ms, 50))} ms, ` +
    `95th percentile ${n.figure(`latency.${label}.p95Ms`, percentileMs(ms, 95))} ms` +
    (failed[label] > 0
      ? `, ${n.figure(`latency.${label}.failed`, failed[label])} failed (no answer within the request timeout)`
      : '');
  n.detail(`${line('one', one)} — acknowledged once n1 holds the write`);
  n.detail(`${line('all', all)} — acknowledged once all three replicas hold it`);
  const ratio = percentileMs(all, 50) / Math.max(0.1, percentileMs(one, 50));
  const costly = ratio > 1;
  n.detail(
    costly
      ? `Writing to every replica costs ${ratio.toFixed(1)}× the median latency here, on loopback in one ` +
          'process; across machines each write also waits for the slowest replica’s network round trip.'
      : 'Here, on loopback in one process, all was not slower this time (the machine is noisy); across ' +
          'machines each write at all waits for the slowest replica’s network round trip.',
  );
  return costly;
}

export async function syncAll(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title(
    'sync-all: synchronous replication fails when a replica is away; background repair keeps writes available',
  );
  const costly = await latencyCost(n, cluster);
  await cluster.isolate('n3');
  await n.next(
    'n3 becomes unreachable. A write of “balance” = 100 at consistency all needs every replica to acknowledge it:',
  );
  let allFailed = false;
  const started = performance.now();
  try {
    await cluster.node('n1').ctx.node.put('balance', new TextEncoder().encode('100'), 'all');
  } catch (err) {
    allFailed = err instanceof ConvergeError && err.code === 'UNAVAILABLE';
    n.detail(
      `503 ${err instanceof Error ? err.message : String(err)} (after ${Math.round(performance.now() - started)} ms)`,
    );
  }
  const took = ['n1', 'n2'].filter(
    (id) => text(cluster.node(id).ctx.replica.get(keyToBytes('balance'))?.value) === '100',
  );
  n.detail(
    `The replicas that answered keep it: “balance” is 100 on ${took.join(' and ') || 'none'}. ` +
      'A 503 does not undo a write; it spreads later.',
  );
  await n.next(`${orders} writes at consistency one stay available:`);
  const w = await writeKeys(cluster.node('n1'), 'order', orders, 'one');
  await settleReplication(cluster);
  n.detail(`${n.figure('orders.acknowledged', w.acknowledged)} of ${orders} writes acknowledged at one`);
  await n.next('The trade-off: availability now, drift to repair later. The partition heals.');
  const heal = await healAndAccount(n, cluster, ['balance', ...w.keys], 'heal', () => cluster.heal());
  const keys = new Set(replicaFacts(cluster).map((f) => f.keys));
  const final = [...keys][0] ?? 0;
  const balance = text((await cluster.node('n3').ctx.node.get('balance', 'all')).value);
  n.detail(
    `Every replica holds ${n.figure('final.keys', final)} keys: the ${w.acknowledged} orders and “balance”. ` +
      `A read of “balance” at consistency all answers ${balance}: the write that answered 503 reached every replica.`,
  );
  const ok = allFailed && took.includes('n1') && w.acknowledged === orders && heal.converged && heal.exact;
  return n.check(
    ok && keys.size === 1 && final === orders + 1 && balance === '100',
    `writes at all waited for every replica${costly ? ' (slower)' : ''} and failed while n3 was away (yet spread later), writes at one succeeded, and anti-entropy converged the replicas`,
  );
}
