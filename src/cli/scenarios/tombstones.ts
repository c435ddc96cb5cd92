// `tombstones`: a delete while a replica is down, the tombstone kept until the repair watermark passes it,
// and then purged everywhere without the old value coming back.

import { keyToBytes } from '../../core/record.js';
import type { LocalCluster } from '../cluster.js';
import { converged, healMs, pause, showRoots, until } from './evidence.js';
import type { Narrator } from './narrate.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const waitMs = 2_000;

function fmt(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? 'unknown' : new Date(ms).toISOString().slice(11, 23);
}

export async function tombstones(n: Narrator, cluster: LocalCluster): Promise<boolean> {
  n.title('tombstones: a delete during an outage, and why tombstones wait for the repair watermark');
  const key = keyToBytes('doomed');
  // At all when it can; a node just started may miss the short request timeout, and anti-entropy spreads it
  // then.
  await cluster
    .node('n1')
    .ctx.node.put('doomed', bytes('alive'), 'all')
    .catch(() => undefined);
  await until(() => converged(cluster) && cluster.node('n3').ctx.replica.get(key) !== undefined, healMs);
  await n.next('Key “doomed” is on every replica. Then n3 stops.');
  showRoots(n, cluster, 'start');
  await cluster.stop('n3');
  await cluster.node('n1').ctx.node.del('doomed', 'quorum');
  await n.next(
    '“doomed” is deleted at quorum: n1 and n2 keep a tombstone, the record a delete leaves behind. n3 missed the delete and still holds the live value.',
  );
  const deletedAtMs = Date.now();
  await pause(waitMs);
  const kept = ['n1', 'n2'].every((id) => cluster.node(id).ctx.replica.get(key)?.tombstone === true);
  const wm = cluster.node('n1').ctx.antiEntropy?.status().watermark;
  const intervals = Math.round(waitMs / (cluster.configs[0]?.aeIntervalMs ?? 500));
  await n.next(
    `${intervals} anti-entropy intervals later, the tombstone is ${kept ? 'still there on n1 and n2' : 'GONE from n1 or n2'}: the watermark cannot pass the delete while n3 has not been repaired.`,
  );
  const before = wm?.clusterMs ?? null;
  n.detail(
    `delete at ${fmt(deletedAtMs)}; n1 watermark: local ${fmt(wm?.localMs)}, cluster ${fmt(before)}; tombstones purged so far: ${n.figure('purged.before', wm?.tombstonesPurged ?? 0)}`,
  );
  n.detail('Purging now would let n3’s old value come back through anti-entropy: a resurrection.');
  await n.next(
    'n3 returns. A session gives it the tombstone; once every replica has completed a session that began after the delete, the watermark passes it and the tombstone is purged everywhere.',
  );
  await cluster.start('n3');
  const purged = await until(
    () => [...cluster.running.values()].every((r) => r.ctx.replica.get(key) === undefined),
    healMs,
  );
  const after = cluster.node('n1').ctx.antiEntropy?.status().watermark;
  n.detail(
    `n1 watermark: cluster ${fmt(after?.clusterMs)}; tombstones purged on n1: ${n.figure('purged.after', after?.tombstonesPurged ?? 0)}`,
  );
  let gone = false;
  try {
    gone = !(await cluster.node('n3').ctx.node.get('doomed', 'all')).found;
  } catch {
    gone = false;
  }
  n.detail(`read of “doomed” at consistency all: ${gone ? 'not found' : 'FOUND'}`);
  showRoots(n, cluster, 'final');
  return n.check(
    kept && purged && gone,
    'the tombstone waited for the watermark, was purged only after n3 was repaired, and the key never came back',
  );
}
