// The per-partition steps of a membership change: pending → streamed → moved → cleaned. A partition is
// streamed, and later moved, only on evidence that its new owners hold what its old owners hold: equal
// partition digests (the digest node of the partition, compared as the caller measured them after the change
// began). The last partition cleaned ends the change. Time is the caller's (nowMs), never read here.

import { assert, ConvergeError } from './errors.js';
import {
  finishChange,
  type MembershipChange,
  type MembershipState,
  type MoveState,
  membershipError,
  type PartitionMove,
} from './membership.js';
import { quorumOf } from './topology.js';

/** Default grace between a partition's move and its old owners dropping their copy (`cleanupGraceMs`). */
export const cleanupGraceMsDefault = 10 * 60_000;

/** A partition digest per member (hex of the digest node, or any comparable text); absent = unknown. */
export type RangeDigests = ReadonlyMap<string, string>;

export interface StreamingVerdict {
  readonly ok: boolean;
  /** Owners whose digest differs or is unknown (empty when ok). */
  readonly behind: readonly string[];
}

/** The old owners whose copies count as sources: a replace's dead member holds nothing anyone can read. */
export function liveSources(move: PartitionMove, change: MembershipChange): string[] {
  return move.from.filter((id) => id !== change.replaced);
}

/**
 * The new owners that must show they caught up: those that were not old owners, and every new owner when
 * the lists shrink (then the survivors alone no longer form a quorum of what was acknowledged).
 */
export function ownersToVerify(move: PartitionMove): string[] {
  return move.to.length < move.from.length ? [...move.to] : move.to.filter((id) => !move.from.includes(id));
}

/**
 * How many old owners must agree with the new ones: any write acknowledged at `quorum` is on quorumOf(w) of
 * the w old owners (at most one of them dead, in a replace), so w - quorumOf(w) + 1 live old owners that
 * agree always include one that holds it.
 */
export function sourcesRequired(move: PartitionMove): number {
  const w = move.from.length;
  return w - quorumOf(w) + 1;
}

/**
 * Whether the new owners to verify all show one digest that at least sourcesRequired live old owners have
 * too. When not, the verdict names who is out of step, measured against the sources' most common digest.
 */
export function streamingVerdict(
  move: PartitionMove,
  change: MembershipChange,
  digests: RangeDigests,
): StreamingVerdict {
  const verify = ownersToVerify(move);
  assert(verify.length > 0, 'a moving partition has a new owner to verify');
  const sources = liveSources(move, change);
  const shown = digests.get(verify[0]!);
  const backing = sources.filter((id) => shown !== undefined && digests.get(id) === shown).length;
  if (
    shown !== undefined &&
    verify.every((id) => digests.get(id) === shown) &&
    backing >= sourcesRequired(move)
  ) {
    return { ok: true, behind: [] };
  }
  const counts = new Map<string, number>();
  for (const id of sources) {
    const d = digests.get(id);
    if (d !== undefined) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  let wanted: string | undefined;
  for (const [d, c] of counts) if (wanted === undefined || c > counts.get(wanted)!) wanted = d;
  const agreeing = sources.filter((id) => wanted !== undefined && digests.get(id) === wanted);
  const behind = verify.filter((id) => wanted === undefined || digests.get(id) !== wanted);
  // Name who is out of step: the new owners that differ from the sources' most common digest, else the old
  // owners that do not agree with it yet.
  return { ok: false, behind: behind.length > 0 ? behind : sources.filter((id) => !agreeing.includes(id)) };
}

function requireChange(s: MembershipState): MembershipChange {
  if (s.change === null)
    throw new ConvergeError('NO_CHANGE_IN_PROGRESS', 'no membership change is in progress');
  return s.change;
}

function requireEvidence(
  move: PartitionMove,
  change: MembershipChange,
  digests: RangeDigests,
  what: string,
): void {
  const verdict = streamingVerdict(move, change, digests);
  if (!verdict.ok) {
    throw new ConvergeError(
      'RANGE_NOT_STREAMED',
      `partition ${move.partition} cannot be ${what}: ${verdict.behind.join(', ')} ` +
        `${verdict.behind.length === 1 ? 'does' : 'do'} not hold what its old owners hold yet`,
      { partition: move.partition, behind: [...verdict.behind] },
    );
  }
}

function requireState(move: PartitionMove, states: readonly MoveState[], what: string): void {
  if (!states.includes(move.state)) {
    throw membershipError(`partition ${move.partition} is ${move.state}; it cannot be ${what}`);
  }
}

/** When the old owners that no longer hold the partition may drop it (null while it has not moved). */
export function cleanupDueAtMs(move: PartitionMove, graceMs: number): number | null {
  return move.movedAtMs === null ? null : move.movedAtMs + graceMs;
}

/** One step of one partition; `digests` are needed to stream and to move. */
export type MoveStep =
  | { readonly kind: 'streamed' | 'moved'; readonly partition: number; readonly digests: RangeDigests }
  | { readonly kind: 'cleaned'; readonly partition: number };

/** The move after the step (the same object when it already took that step), or an error saying why not. */
function stepOne(
  move: PartitionMove,
  step: MoveStep,
  change: MembershipChange,
  nowMs: number,
  graceMs: number,
): PartitionMove {
  if (move.state === step.kind) return move;
  if (step.kind === 'streamed') {
    requireState(move, ['pending'], 'marked streamed');
    requireEvidence(move, change, step.digests, 'marked streamed');
    return { ...move, state: 'streamed' };
  }
  if (step.kind === 'moved') {
    requireState(move, ['streamed'], 'moved');
    requireEvidence(move, change, step.digests, 'moved');
    return { ...move, state: 'moved', movedAtMs: nowMs };
  }
  requireState(move, ['moved'], 'cleaned');
  const due = cleanupDueAtMs(move, graceMs)!;
  if (nowMs < due) {
    throw membershipError(
      `partition ${move.partition} may be cleaned from ${due} ms (grace ${graceMs} ms), not ${nowMs}`,
    );
  }
  return { ...move, state: 'cleaned' };
}

/**
 * Applies the steps of many partitions as one new epoch (a node batches a tick's reports: one state to
 * store and spread, not one per partition). Without `onRefused`, the first refused step throws and nothing
 * is applied; with it, refused steps are skipped and reported. The last partition cleaned ends the change.
 */
export function applyMoveSteps(
  s: MembershipState,
  steps: readonly MoveStep[],
  nowMs: number,
  graceMs: number = cleanupGraceMsDefault,
  onRefused?: (step: MoveStep, error: ConvergeError) => void,
): MembershipState {
  const change = requireChange(s);
  const at = new Map(change.moves.map((m, i) => [m.partition, i]));
  const moves = [...change.moves];
  let changed = false;
  for (const step of steps) {
    try {
      const i = at.get(step.partition);
      if (i === undefined) throw membershipError(`partition ${step.partition} does not move in this change`);
      const next = stepOne(moves[i]!, step, change, nowMs, graceMs);
      changed ||= next !== moves[i];
      moves[i] = next;
    } catch (e) {
      if (onRefused === undefined || !(e instanceof ConvergeError)) throw e;
      onRefused(step, e);
    }
  }
  if (!changed) return s;
  const next = { ...s, epoch: s.epoch + 1, change: { ...change, moves } };
  return moves.every((m) => m.state === 'cleaned') ? finishChange(next) : next;
}

/**
 * The new owners caught up: from now on a write for the partition counts a quorum of the old owners AND of
 * the new ones (see membership-replicas.ts), so none acknowledged later can miss the new owners. Idempotent.
 */
export function markStreamed(s: MembershipState, partition: number, digests: RangeDigests): MembershipState {
  return applyMoveSteps(s, [{ kind: 'streamed', partition, digests }], 0);
}

/**
 * Ownership of the partition moves to its new owners. The evidence must be measured again once every member
 * has installed the epoch at which the partition became streamed (so no coordinator still counts the old
 * owners alone): writes acknowledged before that are on the new owners too. Idempotent.
 */
export function moveOwnership(
  s: MembershipState,
  partition: number,
  digests: RangeDigests,
  nowMs: number,
): MembershipState {
  return applyMoveSteps(s, [{ kind: 'moved', partition, digests }], nowMs);
}

/**
 * The old owners dropped their copies of the partition (after the grace). The last partition cleaned ends
 * the change: the final ring is installed and every member is normal. Idempotent while the change runs.
 */
export function markCleaned(
  s: MembershipState,
  partition: number,
  nowMs: number,
  graceMs: number = cleanupGraceMsDefault,
): MembershipState {
  return applyMoveSteps(s, [{ kind: 'cleaned', partition }], nowMs, graceMs);
}

/** The old owners that drop a partition's data at its cleanup (they no longer hold it). */
export function droppedBy(move: PartitionMove, change: MembershipChange): string[] {
  return liveSources(move, change).filter((id) => !move.to.includes(id));
}
