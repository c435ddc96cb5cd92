// `dropped-writes`: replication messages lost at random, acknowledged writes that never reach some replicas,
// and anti-entropy finding exactly those keys.

import type { LocalCluster } from '../cluster.js';
import { converged, showRoots } from './evidence.js';
import { healAndAccount } from './heal.js';
import type { Narrator } from './narrate.js';
import { burst } from './partition.js';

const writes = 300;
const dropRate = 0.3;

export async function droppedWrites(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('dropped-writes: writes silently lost on the way to some replicas; only anti-entropy finds them');
  await n.next(
    `${Math.round(dropRate * 100)}% of replication messages are dropped at random between every pair of nodes ` +
      '(anti-entropy traffic is not). Hints and read repair are off.',
  );
  for (const r of cluster.running.values()) r.ctx.faults.setDropRate('*', dropRate);
  await n.next(`${writes} writes at consistency one through n1. No client sees an error:`);
  const w = await burst(n, cluster, 'n1', 'dropped', writes, []);
  await n.next('The replicas hold different data:');
  showRoots(n, cluster, 'drift');
  const drifted = !converged(cluster);
  const heal = await healAndAccount(n, cluster, w.keys, 'heal', async () => {
    // Anti-entropy is exempt from the loss anyway; clearing it now lets the user's own writes replicate.
    for (const r of cluster.running.values()) r.ctx.faults.healAll();
  });
  return n.check(
    drifted && heal.converged && heal.exact && heal.sessions > 0,
    'dropped writes made the replicas diverge and anti-entropy alone repaired exactly the copies they lacked',
  );
}
