// Two stories of one partition: with anti-entropy on (`partition`) the replicas drift and converge; with it
// off (`no-anti-entropy`) they stay divergent, silently, until it is switched back on.

import type { LocalCluster } from '../cluster.js';
import {
  appliedBy,
  converged,
  explainLosses,
  holdAntiEntropy,
  holdingLine,
  lossCounters,
  pause,
  receivedBetween,
  sessionsSince,
  settleReplication,
  showRoots,
  showStaleRead,
  until,
  type WriteRun,
  writeKeys,
} from './evidence.js';
import { healAndAccount } from './heal.js';
import type { Narrator } from './narrate.js';

const burstKeys = 200;

/** Writes a burst at `one` through `coordinator`, lets replication settle and says what reached whom. */
export async function burst(
  n: Narrator,
  cluster: LocalCluster,
  coordinator: string,
  prefix: string,
  count: number,
  cutOff: readonly string[],
): Promise<WriteRun> {
  const before = appliedBy(cluster);
  const losses = await lossCounters(cluster, coordinator);
  const w = await writeKeys(cluster.node(coordinator), prefix, count, 'one');
  await holdAntiEntropy(cluster);
  await settleReplication(cluster);
  const after = appliedBy(cluster);
  const received = receivedBetween(before, after);
  n.detail(
    `${n.figure('burst.acknowledged', w.acknowledged)} of ${count} writes acknowledged, ${n.figure('burst.failed', w.failed)} failed`,
  );
  await explainLosses(n, cluster, coordinator, w.acknowledged, received, losses, cutOff);
  const repairedMeanwhile = [...after]
    .map(([id, a]) => [id, a.antiEntropy - (before.get(id)?.antiEntropy ?? 0)] as const)
    .filter(([, k]) => k > 0);
  if (repairedMeanwhile.length > 0) {
    const list = repairedMeanwhile.map(([id, k]) => `${n.figure(`meanwhile.${id}`, k)} on ${id}`).join(', ');
    n.detail(
      `Meanwhile anti-entropy, running between the replicas that still reach each other, applied ${list}.`,
    );
  }
  if (cluster.node(coordinator).ctx.node.ctx.mechanisms.antiEntropy) {
    n.detail(
      '(Anti-entropy’s schedule is now held, so these counts stay still while you look; it resumes below.)',
    );
  }
  holdingLine(n, cluster, w.keys, 'held');
  return w;
}

export async function partition(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('partition: replicas drift while a node is cut off, and converge when the partition heals');
  await n.next(
    'Three replicas of the same data, identical digests. Hinted handoff and read repair are off, so only anti-entropy can heal.',
  );
  showRoots(n, cluster, 'start');
  await n.next(
    'A network partition isolates n3. It keeps running and answering its clients, but no write reaches it.',
  );
  await cluster.isolate('n3');
  await n.next(`${burstKeys} writes at consistency one through n1: each is acknowledged once n1 holds it.`);
  const w = await burst(n, cluster, 'n1', 'partition', burstKeys, ['n3']);
  await n.next('The replicas have drifted: their digests differ (divergence). n3 serves stale reads:');
  showRoots(n, cluster, 'drift');
  const drifted = !converged(cluster);
  const stale = await showStaleRead(n, cluster, 'n3', 'n1', w.keys);
  await n.next('The partition heals.');
  const heal = await healAndAccount(n, cluster, w.keys, 'heal', () => cluster.heal());
  return n.check(
    drifted && stale && heal.converged && heal.exact,
    'the replicas drifted during the partition, n3 served stale reads, and anti-entropy converged them, repairing exactly the copies they lacked',
  );
}

export async function noAntiEntropy(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('no-anti-entropy: the same drift with anti-entropy off stays silently divergent');
  await cluster.setMechanism(undefined, 'antiEntropy', false);
  await n.next('Anti-entropy is switched off on every node (hinted handoff and read repair are off too).');
  await cluster.isolate('n3');
  await n.next(`n3 is isolated while ${burstKeys} writes at consistency one go through n1.`);
  const w = await burst(n, cluster, 'n1', 'silent', burstKeys, ['n3']);
  n.detail('Every client that got an answer saw success.');
  await cluster.heal();
  const waitMs = 3_000;
  const intervalMs = cluster.configs[0]?.aeIntervalMs ?? 500;
  await n.next(
    `The partition heals. ${Math.round(waitMs / intervalMs)} anti-entropy intervals (${waitMs / 1000} s) pass…`,
  );
  const sinceMs = Date.now();
  await pause(waitMs);
  n.detail(`sessions run meanwhile: ${n.figure('quiet.sessions', sessionsSince(cluster, sinceMs).length)}`);
  showRoots(n, cluster, 'quiet');
  const stillDivergent = !converged(cluster);
  await n.next('Nothing reports it. Every node answers, sees its peers, and serves reads without an error:');
  const seen = await until(
    () =>
      cluster
        .node('n3')
        .ctx.node.status()
        .peers.every((p) => p.reachable),
    5_000,
  );
  n.detail(
    `n3’s status: ${seen ? 'every peer reachable' : 'some peer not yet seen'}, ` +
      `${n.figure('silent.n3.keys', cluster.node('n3').ctx.node.status().keys)} keys, no error`,
  );
  const stale = await showStaleRead(n, cluster, 'n3', 'n1', w.keys);
  n.detail(
    'Only comparing digests shows the drift — what `converge status` and anti-entropy do. This is silent divergence.',
  );
  await n.next('Anti-entropy is switched back on.');
  const heal = await healAndAccount(n, cluster, w.keys, 'heal', () =>
    cluster.setMechanism(undefined, 'antiEntropy', true),
  );
  return n.check(
    stillDivergent && stale && heal.converged && heal.exact,
    'without anti-entropy the replicas stayed divergent while reads on n3 were silently stale; with it they converged',
  );
}
