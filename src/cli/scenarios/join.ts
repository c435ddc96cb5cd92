// `join`: a fourth node joins a loaded 3-node cluster. The narration shows the ranges that move, the writes
// of a pending range going to the old owners and the newcomer (which does not count yet), the streaming
// progress of the anti-entropy sessions that fill it, ownership moving range by range, and the old copies
// dropped after the cleanup grace.

import { membersView } from '../../cluster/membership-api.js';
import type { MembershipService } from '../../cluster/membership-service.js';
import { tokenOf } from '../../core/hash.js';
import type { MembershipState } from '../../core/membership.js';
import { keyToBytes } from '../../core/record.js';
import type { LocalCluster } from '../cluster.js';
import { pause, until } from './evidence.js';
import { checkReads, narrateReads } from './join-reads.js';
import type { Narrator } from './narrate.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const baseKeys = 3_000;
const changeMs = 180_000;

function service(cluster: LocalCluster, id: string): MembershipService {
  const m = cluster.node(id).ctx.services.membership;
  if (m === undefined) throw new Error(`${id} runs no membership service`);
  return m;
}

/** A steady stream of quorum writes through n1..n3 while the story runs; what was acknowledged. */
function backgroundLoad(cluster: LocalCluster): { stop(): Promise<{ acked: string[]; failed: number }> } {
  let stopped = false;
  const acked: string[] = [];
  let failed = 0;
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const key = `load-${w}-${i}`;
      try {
        await cluster.node(`n${w + 1}`).ctx.node.put(key, bytes(`v:${key}`), 'quorum');
        acked.push(key);
      } catch {
        failed += 1;
      }
      await pause(20);
    }
  };
  const loops = [0, 1, 2].map(loop);
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return { acked, failed };
    },
  };
}

async function preload(cluster: LocalCluster): Promise<string[]> {
  const keys = Array.from({ length: baseKeys }, (_, i) => `base-${i}`);
  const node = cluster.node('n1').ctx.node;
  for (let i = 0; i < keys.length; i += 200) {
    await node.batch(
      keys
        .slice(i, i + 200)
        .map((key) => ({ op: 'put', key, keyBytes: keyToBytes(key), value: bytes(`v:${key}`) })),
      'quorum',
    );
  }
  return keys;
}

function showMoves(n: Narrator, s: MembershipState): void {
  const moves = s.change?.moves ?? [];
  n.detail(
    `membership epoch ${s.epoch}: ${n.figure('moves', moves.length)} of ${s.ring.partitions} partitions move`,
  );
  for (const m of moves.slice(0, 4))
    n.detail(`  partition ${m.partition}: ${m.from.join(',')} → ${m.to.join(',')}`);
  if (moves.length > 4) n.detail(`  … and ${moves.length - 4} more`);
}

/** A write to a pending partition: the old owners and n4 receive it; only the old owners count. */
async function doubleWrite(n: Narrator, cluster: LocalCluster, s: MembershipState): Promise<boolean> {
  const moving = new Set((s.change?.moves ?? []).filter((m) => m.to.includes('n4')).map((m) => m.partition));
  const key = Array.from({ length: 5_000 }, (_, i) => `pending-${i}`).find((k) =>
    moving.has(s.ring.partitionOf(tokenOf(keyToBytes(k)))),
  );
  if (key === undefined) return false;
  // n2 coordinates by the membership it has installed: until the change reached it, the write would go to the
  // old owners only and reach n4 by streaming alone (slow when streaming is throttled).
  await until(() => ['n2', 'n4'].every((id) => service(cluster, id).current().epoch >= s.epoch), 10_000);
  const out = await cluster.node('n2').ctx.node.put(key, bytes(`v:${key}`), 'quorum');
  const reached = await until(
    () => cluster.node('n4').ctx.replica.get(keyToBytes(key)) !== undefined,
    10_000,
  );
  n.detail(
    `PUT “${key}” (partition ${s.ring.partitionOf(tokenOf(keyToBytes(key)))}, pending) at quorum through n2: ` +
      `acknowledged by ${out.acknowledged.join(', ')}; n4 ${reached ? 'holds it too' : 'DOES NOT hold it'}`,
  );
  n.detail('The quorum is counted among the old owners: n4 may still lack older records of the range.');
  return reached;
}

/** Progress lines while the change runs: partition states, n4's records and how fast they grow. */
async function watchProgress(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  const deadline = Date.now() + changeMs;
  let last = '';
  let lastShownMs = Date.now();
  let lastCount = cluster.node('n4').ctx.replica.digest.count();
  while (Date.now() < deadline) {
    const v = membersView(service(cluster, 'n1'));
    if (v.change === null) return true;
    const p = v.change.partitions;
    const count = cluster.node('n4').ctx.replica.digest.count();
    const state = `pending ${p.pending}, streamed ${p.streamed}, moved ${p.moved}, cleaned ${p.cleaned}`;
    const elapsedMs = Date.now() - lastShownMs;
    if ((state !== last && elapsedMs >= 300) || elapsedMs >= 2_000) {
      const rate = Math.round(((count - lastCount) * 1000) / elapsedMs);
      n.detail(
        `${state} of ${p.total}; n4 holds ${count.toLocaleString('en-US')} records ` +
          `(+${rate.toLocaleString('en-US')}/s)`,
      );
      last = state;
      lastShownMs = Date.now();
      lastCount = count;
    }
    await pause(100);
  }
  return false;
}

/** Records each old owner dropped after the cleanup grace (converge_membership_dropped_records_total). */
async function showCleanup(n: Narrator, cluster: LocalCluster): Promise<void> {
  for (const id of ['n1', 'n2', 'n3']) {
    const metric = cluster.node(id).ctx.registry.getSingleMetric('converge_membership_dropped_records_total');
    const values = (await metric?.get())?.values ?? [];
    const dropped = values.filter((v) => v.labels.reason === 'cleanup').reduce((a, v) => a + v.value, 0);
    n.detail(
      `${id} dropped ${n.figure(`cleanup.${id}`, dropped)} records of the partitions it gave to n4 ` +
        '(after the cleanup grace, counted in converge_membership_dropped_records_total)',
    );
  }
}

/** Records held by members that do not own their partition (none once the cleanup is done). */
function misplaced(cluster: LocalCluster): number {
  const s = service(cluster, 'n1').current();
  let off = 0;
  for (const [id, r] of cluster.running) {
    for (let p = 0; p < s.ring.partitions; p++) {
      if (s.ring.replicasOf(p).includes(id)) continue;
      off += r.ctx.replica.digest.node(s.ring.partitionBits, p).count;
    }
  }
  return off;
}

export async function joinStory(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('join: a fourth node joins a loaded 3-node cluster, its ranges streamed by anti-entropy');
  const base = await preload(cluster);
  const load = backgroundLoad(cluster);
  try {
    await n.next(
      `n1, n2 and n3 hold ${n.figure('base', base.length)} keys (RF 3: each holds every key), and keep taking quorum writes. n4 starts with --join ${cluster.url('n1')}.`,
    );
    await cluster.join('n4');
    const began = await until(() => service(cluster, 'n1').current().change?.member === 'n4', 20_000);
    const s = service(cluster, 'n1').current();
    await n.next('n1 begins the join and drives it: the claim rule gives n4 its share, so some ranges move.');
    showMoves(n, s);
    await n.next('While a range is pending, its writes go to its old owners AND to n4.');
    const doubled = await doubleWrite(n, cluster, s);
    await n.next(
      'Anti-entropy sessions stream each pending range to n4 (the bulk path, throttled). When n4’s digest of a range equals its sources’, ownership moves; the old owner drops its copy after the cleanup grace.',
    );
    const finished = began && (await watchProgress(n, cluster));
    const { acked, failed } = await load.stop();
    return await finish(n, cluster, { finished, doubled, keys: [...base, ...acked], failed });
  } finally {
    await load.stop();
  }
}

async function finish(
  n: Narrator,
  cluster: LocalCluster,
  r: { finished: boolean; doubled: boolean; keys: string[]; failed: number },
): Promise<boolean> {
  const cleaned = await until(() => misplaced(cluster) === 0, 30_000);
  await n.next(
    `The join is ${r.finished ? 'done' : 'NOT done'}: 4 members, each holding only the partitions it owns.`,
  );
  for (const id of ['n1', 'n2', 'n3', 'n4']) {
    const owned = service(cluster, id).current().ring.ownedBy(id).length;
    const keys = cluster.node(id).ctx.replica.digest.count();
    n.detail(`${id}: owns ${owned} partitions, holds ${n.figure(`final.${id}.keys`, keys)} records`);
  }
  await showCleanup(n, cluster);
  n.detail(
    `records left on a node that no longer owns their partition: ${n.figure('misplaced', misplaced(cluster))}`,
  );
  n.detail(`quorum writes refused during the join: ${n.figure('load.failed', r.failed)}`);
  const reads = await checkReads(cluster, 'n4', r.keys);
  narrateReads(n, reads);
  return n.check(
    r.finished && r.doubled && cleaned && reads.unreadable.length === 0,
    'n4 joined while writes went on: pending ranges were written twice, streamed, moved, and the old copies dropped; every acknowledged write is readable',
  );
}
