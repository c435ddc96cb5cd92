// Known bugs the simulator can plant, to prove its checks bite: a test asserts that each one makes some
// history among the default seeds fail. They live here, not in the node code, and are wired only by the
// simulator: the shipped code has no switch that turns them on.

import type { AntiEntropyProcess } from '../antientropy/process.js';
import { encodeJson } from '../cluster/codec.js';
import { membershipRoutes } from '../cluster/membership-routes.js';
import type { InternalRouter } from '../cluster/transport.js';
import { logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import type { VersionedRecord } from '../core/record.js';
import { LocalReplica, type ReplicaOptions } from '../replica/replica.js';
import type { ApplyResult, ApplySource } from '../replica/types.js';

export const plantedBugs = [
  'none',
  'purge-early',
  'ack-before-persist',
  'accept-future',
  'keep-old-copies',
] as const;
export type PlantedBug = (typeof plantedBugs)[number];

/**
 * Acknowledges an apply as soon as it is merged in memory, before storage has it: a crash then loses
 * writes that a client (or a peer) was told are safe.
 */
class AckBeforePersistReplica extends LocalReplica {
  override apply(records: readonly VersionedRecord[], source: ApplySource): Promise<ApplyResult> {
    const before = this.stats().applied;
    // The merge and the staging run synchronously inside super.apply, before its first await.
    super.apply(records, source).catch(logFailure('planted early-ack apply', 'debug'));
    const applied = this.stats().applied - before;
    return Promise.resolve({ applied, ignored: records.length - applied });
  }
}

export function makeReplica(bug: PlantedBug, options: ReplicaOptions): LocalReplica {
  if (bug === 'accept-future') {
    // Without a clock the replica refuses nothing, whatever the version's time.
    const { clock: _clock, ...rest } = options;
    return new LocalReplica(rest);
  }
  return bug === 'ack-before-persist' ? new AckBeforePersistReplica(options) : new LocalReplica(options);
}

/**
 * The drift bound a node runs with: under `accept-future` none, so a node whose clock ran away keeps
 * coordinating, and its peers store what it stamps (the replica above refuses nothing).
 */
export function maxClockDriftMsFor(bug: PlantedBug, configured: number): number {
  return bug === 'accept-future' ? Number.MAX_SAFE_INTEGER / 2 : configured;
}

/** Purges tombstones once they are older than the grace, without waiting for the watermark's proof. */
export function plantPurgeEarly(ae: AntiEntropyProcess, clock: Clock, graceMs: number): void {
  ae.watermark.purgeBounds = (): Map<number, number> => {
    const bound = clock.now() - graceMs;
    return new Map(ae.topology.current.ownedBy(ae.runner.env.id).map((p) => [p, bound]));
  };
}

/**
 * A member answers the driver's cleanup (and a cancel's discard) as done without dropping anything: the old
 * owners keep their copies of a partition that moved away, so keys end up on more than their final owners.
 */
export function plantKeepOldCopies(router: InternalRouter): void {
  router.registerInternal(membershipRoutes.drop, async () => encodeJson({ dropped: 0 }));
}
