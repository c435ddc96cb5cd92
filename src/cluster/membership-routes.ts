// A member's side of a membership change: the internal routes the driver (membership-driver-loop.ts) calls.
// `membership/stream`: this node, a new owner, runs anti-entropy streaming sessions with a source over some
// partitions (the bulk path, throttled, checkpointed). `membership/digests`: the digest node of partitions,
// the evidence a move needs. `membership/drop`: removes every record of partitions this node no longer
// holds (cleanup after the grace) or a cancelled change's partial copies (discard), counted and logged.
// `membership/drop-hints`: the hints kept for a member that a change replaced.

import { Counter, type Registry } from 'prom-client';
import { ConvergeError } from '../core/errors.js';
import { backgroundFailures, type Logger } from '../core/failures.js';
import { partitionRuns } from '../core/topology.js';
import type { LiveTopology } from '../core/topology-describe.js';
import { dropBatchRecordsMaxDefault, dropRange } from '../replica/drop-range.js';
import type { LocalReplica } from '../replica/replica.js';
import { decodeJson, encodeJson } from './codec.js';
import type { HintStore } from './hints.js';
import type { InternalRouter } from './transport.js';

export const membershipRoutes = {
  stream: 'membership/stream',
  digests: 'membership/digests',
  drop: 'membership/drop',
  dropHints: 'membership/drop-hints',
} as const;

/** Why a member drops a partition: it moved away (after the grace), or a cancelled change's partial copy. */
export type DropReason = 'cleanup' | 'discard';

export interface StreamRequest {
  readonly source: string;
  readonly partitions: readonly number[];
  /** The change's epoch (sinceEpoch): a streaming session's checkpoint stays good while the change runs. */
  readonly epoch: number;
}

export interface StreamAnswer {
  readonly result: string;
  readonly error: string | null;
  readonly keysPulled: number;
  readonly keysPushed: number;
  readonly resumed: boolean;
}

/** What the routes need of anti-entropy (AntiEntropyProcess: runStreaming, cancelStreaming). */
export interface StreamingSessions {
  runStreaming(source: string, partitions: readonly number[], epoch: number): Promise<StreamAnswer>;
  cancelStreaming(reason: string, epoch: number): Promise<void>;
}

export interface MembershipRoutesOptions {
  readonly router: InternalRouter;
  readonly replica: LocalReplica;
  readonly antiEntropy: StreamingSessions;
  readonly hints: HintStore | undefined;
  /** The ring: its number of partitions and their token ranges. */
  readonly topology: LiveTopology;
  readonly registry: Registry;
  readonly yieldNow: () => Promise<void>;
  readonly logger?: Logger;
  readonly dropBatchRecordsMax?: number;
}

function bad(message: string): ConvergeError {
  return new ConvergeError('PROTOCOL_INVALID', `membership: ${message}`);
}

function objectOf(body: Uint8Array): Record<string, unknown> {
  const msg = decodeJson(body);
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw bad('expected a JSON object');
  return msg as Record<string, unknown>;
}

/** Distinct partitions of the ring, ascending; anything else is refused. */
export function partitionsOf(value: unknown, partitions: number): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > partitions)
    throw bad(`partitions must be a list of 1 to ${partitions} partitions`);
  for (const p of value) {
    if (!Number.isInteger(p) || p < 0 || p >= partitions) throw bad(`no partition ${String(p)}`);
  }
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

function requireFrom(from: string | undefined): string {
  if (from === undefined) throw new ConvergeError('FORBIDDEN', 'membership routes answer members only');
  return from;
}

/** A partition's digest node as text: equal text, equal records (the evidence streamingVerdict compares). */
export function partitionDigest(replica: LocalReplica, level: number, partition: number): string {
  const n = replica.digest.node(level, partition);
  return `${(n.hi >>> 0).toString(16).padStart(8, '0')}${(n.lo >>> 0).toString(16).padStart(8, '0')}:${n.count}`;
}

/** The records a digest text counts (its suffix). */
export function digestCount(digest: string): number {
  const n = Number(digest.slice(digest.lastIndexOf(':') + 1));
  return Number.isFinite(n) ? n : 0;
}

/** The drop route: every record of the partitions removed, counted by reason and logged once. */
function dropHandler(options: MembershipRoutesOptions, dropped: Counter<'reason'>, logger: Logger) {
  const { router, replica, antiEntropy, topology } = options;
  return async (_r: string, body: Uint8Array, from: string | undefined): Promise<Uint8Array> => {
    requireFrom(from);
    const msg = objectOf(body);
    const t = topology.current;
    const partitions = partitionsOf(msg.partitions, t.partitions);
    if (msg.reason !== 'cleanup' && msg.reason !== 'discard') throw bad('reason must be cleanup or discard');
    const reason: DropReason = msg.reason;
    // A discarded copy may still be arriving: its streaming sessions end first, and later ones are refused.
    if (reason === 'discard') {
      if (!Number.isSafeInteger(msg.epoch)) throw bad('a discard names the epoch of the cancelled change');
      await antiEntropy.cancelStreaming('the membership change was cancelled', msg.epoch as number);
    }
    let count = 0;
    for (const p of partitions) {
      const { start, end } = t.partitionRange(p);
      count += await dropRange(replica, start, end, {
        batchRecordsMax: options.dropBatchRecordsMax ?? dropBatchRecordsMaxDefault,
        yieldNow: options.yieldNow,
      });
    }
    dropped.inc({ reason }, count);
    const runs = partitionRuns(partitions).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
    const why =
      reason === 'cleanup' ? 'moved to their new owners, grace over' : 'a cancelled membership change';
    logger.info(
      { node: router.id, reason, partitions: partitions.length, records: count },
      `dropped ${count} records of partitions ${runs.join(',')} (${why})`,
    );
    return encodeJson({ dropped: count });
  };
}

export function registerMembershipRoutes(options: MembershipRoutesOptions): void {
  const { router, replica, antiEntropy, topology } = options;
  const logger = options.logger ?? backgroundFailures.logger;
  const dropped = new Counter({
    name: 'converge_membership_dropped_records_total',
    help: 'Records removed because a membership change moved their partition away (cleanup) or was cancelled',
    labelNames: ['reason'],
    registers: [options.registry],
  });
  router.registerInternal(membershipRoutes.stream, async (_r, body, from) => {
    requireFrom(from);
    const msg = objectOf(body);
    const partitions = partitionsOf(msg.partitions, topology.current.partitions);
    if (typeof msg.source !== 'string' || msg.source === router.id)
      throw bad('source must be another member');
    if (!Number.isSafeInteger(msg.epoch)) throw bad('epoch must be an integer');
    const e = await antiEntropy.runStreaming(msg.source, partitions, msg.epoch as number);
    const answer: StreamAnswer = {
      result: e.result,
      error: e.error,
      keysPulled: e.keysPulled,
      keysPushed: e.keysPushed,
      resumed: e.resumed,
    };
    return encodeJson(answer);
  });
  router.registerInternal(membershipRoutes.digests, async (_r, body, from) => {
    requireFrom(from);
    if (!replica.digestReady) throw new ConvergeError('UNAVAILABLE', 'digest is still being rebuilt');
    const t = topology.current;
    const partitions = partitionsOf(objectOf(body).partitions, t.partitions);
    const digests: Record<string, string> = {};
    for (const p of partitions) digests[p] = partitionDigest(replica, t.partitionBits, p);
    return encodeJson({ digests });
  });
  router.registerInternal(membershipRoutes.drop, dropHandler(options, dropped, logger));
  router.registerInternal(membershipRoutes.dropHints, async (_r, body, from) => {
    requireFrom(from);
    const member = objectOf(body).member;
    if (typeof member !== 'string' || member === '') throw bad('member must be a member id');
    const n = (await options.hints?.dropPeer(member)) ?? 0;
    if (n > 0)
      logger.info({ node: router.id, member, hints: n }, `dropped ${n} hints kept for ${member} (replaced)`);
    return encodeJson({ dropped: n });
  });
}
