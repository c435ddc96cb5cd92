// The five scenarios of `converge demo --scenario NAME`. Each tells its story step by step with evidence from
// the live cluster (the dashboard shows the same thing) and ends by checking that it showed what it claims.

import { ConvergeError } from '../../core/errors.js';
import { keyToBytes } from '../../core/record.js';
import type { LocalCluster } from '../cluster.js';
import { type Narrator, converged, describeSession, pause, repairSessions, showRoots, until } from './narrate.js';

const healMs = 20_000;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

async function healAndWatch(n: Narrator, cluster: LocalCluster, sinceMs: number): Promise<boolean> {
  n.next('Anti-entropy runs by itself: each node compares its digest with each peer’s in a session and repairs exactly the keys that differ.');
  const ok = await until(() => converged(cluster), healMs);
  for (const h of repairSessions(cluster, sinceMs).slice(0, 3)) n.detail(describeSession(h));
  showRoots(n, cluster);
  return ok;
}

export async function partition(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('partition: replicas drift while a node is cut off, and converge when the partition heals');
  n.next('Three replicas of the same data, identical digests. Hinted handoff and read repair are off, so only anti-entropy can heal.');
  showRoots(n, cluster);
  n.next('A network partition isolates n3. It keeps running, but no write reaches it.');
  await cluster.isolate('n3');
  const since = Date.now();
  n.next('200 writes at consistency one through n1: acknowledged by the replicas that are reachable.');
  const burst = await cluster.writeBurst(200, 'n1');
  n.detail(`${burst.written} writes acknowledged, ${burst.failed} failed`);
  await until(() => cluster.node('n1').ctx.replica.digest.rootHex() === cluster.node('n2').ctx.replica.digest.rootHex(), 5000);
  n.next('The replicas have drifted: n3’s digest differs (divergence).');
  showRoots(n, cluster);
  const drifted = !converged(cluster);
  n.next('The partition heals.');
  await cluster.heal();
  const healed = await healAndWatch(n, cluster, since);
  return n.check(drifted && healed, 'the replicas drifted during the partition and converged after it: identical digests');
}

export async function noAntiEntropy(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('no-anti-entropy: the same drift with anti-entropy off stays silently divergent');
  await cluster.setMechanism(undefined, 'antiEntropy', false);
  n.next('Anti-entropy is switched off on every node (hinted handoff and read repair are off too).');
  await cluster.isolate('n3');
  const burst = await cluster.writeBurst(200, 'n1');
  n.next(`n3 is isolated while ${burst.written} writes at consistency one succeed. Every client saw success.`);
  await cluster.heal();
  n.next('The partition heals. Several anti-entropy intervals pass…');
  await pause(3000);
  showRoots(n, cluster);
  const stillDivergent = !converged(cluster);
  n.detail(stillDivergent
    ? 'n3 still lacks those writes: nothing will ever tell it. A read at one on n3 returns stale data — the silent-divergence incident.'
    : 'unexpected: the replicas converged without anti-entropy');
  n.next('Anti-entropy is switched back on.');
  const since = Date.now();
  await cluster.setMechanism(undefined, 'antiEntropy', true);
  const healed = await healAndWatch(n, cluster, since);
  return n.check(stillDivergent && healed, 'without anti-entropy the replicas stayed divergent; with it they converged');
}

export async function syncAll(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('sync-all: synchronous replication fails when a replica is away; background repair keeps writes available');
  await cluster.isolate('n3');
  n.next('n3 is unreachable. A write at consistency all needs every replica to acknowledge it:');
  let allFailed = false;
  try {
    await cluster.node('n1').ctx.node.put('balance', bytes('100'), 'all');
  } catch (err) {
    allFailed = err instanceof ConvergeError && err.code === 'UNAVAILABLE';
    n.detail(`503 ${err instanceof Error ? err.message : String(err)}`);
  }
  n.next('The same writes at consistency one stay available:');
  const since = Date.now();
  let oneOk = 0;
  for (let i = 0; i < 20; i++) {
    await cluster.node('n1').ctx.node.put(`order-${i}`, bytes(`order ${i}`), 'one');
    oneOk += 1;
  }
  n.detail(`${oneOk} of 20 writes acknowledged at one`);
  n.next('The trade-off: availability now, drift to repair later. The partition heals.');
  await cluster.heal();
  const healed = await healAndWatch(n, cluster, since);
  return n.check(allFailed && oneOk === 20 && healed, 'writes at all failed while n3 was away, writes at one succeeded, and anti-entropy converged the replicas');
}

export async function droppedWrites(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('dropped-writes: writes silently lost on the way to some replicas; only anti-entropy finds them');
  n.next('30% of replication messages are lost between every pair of nodes (anti-entropy traffic is not). Hints and read repair are off.');
  for (const r of cluster.running.values()) r.ctx.faults.setDropRate('*', 0.3);
  const since = Date.now();
  const burst = await cluster.writeBurst(300, 'n1');
  n.next(`${burst.written} writes at consistency one, all acknowledged by n1. Some never reached n2 or n3:`);
  showRoots(n, cluster);
  const drifted = !converged(cluster);
  const healed = await healAndWatch(n, cluster, since);
  const found = repairSessions(cluster, since).reduce((sum, h) => sum + h.keysDivergent, 0);
  n.detail(`anti-entropy found ${found} divergent keys in all and repaired each of them, no more`);
  for (const r of cluster.running.values()) r.ctx.faults.healAll();
  return n.check(drifted && healed && found > 0, 'dropped writes made the replicas diverge and anti-entropy alone repaired exactly those keys');
}

export async function tombstones(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('tombstones: a delete during a partition, and why tombstones wait for the repair watermark');
  const key = keyToBytes('doomed');
  await cluster.node('n1').ctx.node.put('doomed', bytes('alive'), 'all');
  await until(() => converged(cluster), 5000);
  n.next('Key “doomed” is on every replica. Then n3 stops.');
  await cluster.stop('n3');
  await cluster.node('n1').ctx.node.del('doomed', 'quorum');
  n.next('“doomed” is deleted at quorum: n1 and n2 keep a tombstone, the record a delete leaves behind. n3 missed the delete and still holds the live value.');
  await pause(2000);
  const kept = ['n1', 'n2'].every((id) => cluster.node(id).ctx.replica.get(key)?.tombstone === true);
  const wm = cluster.node('n1').ctx.antiEntropy?.status().watermark;
  n.next('Several intervals later, the tombstone is still there: the watermark cannot pass the delete while n3 has not been repaired.');
  n.detail(`n1 watermark: local ${fmt(wm?.localMs)}, cluster ${fmt(wm?.clusterMs)}; tombstones purged so far: ${wm?.tombstonesPurged ?? 0}`);
  n.detail('Purging now would let n3’s old value come back through anti-entropy: a resurrection.');
  n.next('n3 returns. A session gives it the tombstone; then every replica has completed a session that began after the delete, the watermark passes it, and the tombstone is purged everywhere.');
  await cluster.start('n3');
  const purged = await until(() => [...cluster.running.values()].every((r) => r.ctx.replica.get(key) === undefined), healMs);
  const after = cluster.node('n1').ctx.antiEntropy?.status().watermark;
  n.detail(`n1 watermark: cluster ${fmt(after?.clusterMs)}; tombstones purged: ${after?.tombstonesPurged ?? 0}`);
  let gone = false;
  try {
    gone = !(await cluster.node('n3').ctx.node.get('doomed', 'all')).found;
  } catch {
    gone = false;
  }
  n.detail(`read of “doomed” at consistency all: ${gone ? 'not found' : 'FOUND'}`);
  return n.check(kept && purged && gone, 'the tombstone waited for the watermark, was purged only after n3 was repaired, and the key never came back');
}

function fmt(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? 'unknown' : new Date(ms).toISOString().slice(11, 23);
}
