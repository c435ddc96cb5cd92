// The membership change driver: given the state and what just happened (a session ended with these
// digests, a member crashed, the old copies were dropped, the operator cancelled), the next state and what
// to do next. Pure and deterministic, so the node and the simulator drive changes with the same code; the
// plan is derived from the state alone, so a restart resumes by planning from the stored state.

import { ConvergeError } from './errors.js';
import { cancelChange, type MembershipState } from './membership.js';
import { decodeMembership } from './membership-codec.js';
import {
  applyMoveSteps,
  cleanupDueAtMs,
  droppedBy,
  liveSources,
  type MoveStep,
  ownersToVerify,
  type RangeDigests,
  sourcesRequired,
} from './membership-moves.js';

export type DriverReport =
  /** The partition digests of a moving partition's owners, measured after a session. */
  | { readonly kind: 'digests'; readonly partition: number; readonly digests: RangeDigests }
  /** The old owners named by a `drop` action removed their copy of the partition. */
  | { readonly kind: 'dropped'; readonly partition: number };

export type DriverEvent =
  /** Periodic: plan again (cleanups fall due with time). */
  | { readonly kind: 'tick' }
  | DriverReport
  /** Many reports as one epoch (a tick's worth); the refused ones are skipped, the first named. */
  | { readonly kind: 'reports'; readonly reports: readonly DriverReport[] }
  | { readonly kind: 'cancel' };

export type DriverAction =
  /** Run anti-entropy sessions for the partition from these sources to these new owners, then report their
   * partition digests (sources and new owners) as a `digests` event. */
  | { readonly kind: 'stream'; readonly partition: number; readonly from: string[]; readonly to: string[] }
  /** Measure the partition's digest on these members and report it as a `digests` event. */
  | { readonly kind: 'verify'; readonly partition: number; readonly members: string[] }
  /** Wait until every member has installed this epoch (spread it); moves wait for it. */
  | { readonly kind: 'await-epoch'; readonly epoch: number }
  /** These members remove their copy of the partition, then report `dropped`. */
  | { readonly kind: 'drop'; readonly partition: number; readonly members: string[] }
  /** After a cancel: these new owners remove the partial copy they received (no report needed). */
  | { readonly kind: 'discard'; readonly partition: number; readonly members: string[] }
  /** Nothing to do for the partition until then (the cleanup grace). */
  | { readonly kind: 'wait'; readonly partition: number; readonly untilMs: number }
  /** The partition cannot progress: a new owner is down, or too few sources are up. */
  | { readonly kind: 'stalled'; readonly partition: number; readonly reason: string }
  /** The state changed: store it durably, then spread it. */
  | { readonly kind: 'persist'; readonly epoch: number };

export interface DriverContext {
  readonly nowMs: number;
  /** Between a move and the old owners dropping their copy (`cleanupGraceMs`). */
  readonly graceMs: number;
  /** Members known to be down now. */
  readonly down: ReadonlySet<string>;
  /** The lowest membership epoch installed on every member. */
  readonly installedEpoch: number;
}

export interface DriverStep {
  readonly state: MembershipState;
  readonly actions: DriverAction[];
  /** Set when the event was refused (a cancel too late, digests that do not show the catch-up). */
  readonly refused: ConvergeError | null;
}

function stallReason(
  move: Parameters<typeof ownersToVerify>[0],
  sources: string[],
  ctx: DriverContext,
): string | null {
  const targetsDown = ownersToVerify(move).filter((id) => ctx.down.has(id));
  if (targetsDown.length > 0) return `new owner ${targetsDown.join(', ')} is down`;
  const up = sources.filter((id) => !ctx.down.has(id));
  const need = sourcesRequired(move);
  return up.length < need ? `${up.length} of the ${need} sources needed are up` : null;
}

/** What to do next for the state, derived from the state alone. */
export function planChange(s: MembershipState, ctx: DriverContext): DriverAction[] {
  const change = s.change;
  if (change === null) return [];
  const actions: DriverAction[] = [];
  const epochSpread = ctx.installedEpoch >= s.epoch;
  if (!epochSpread) actions.push({ kind: 'await-epoch', epoch: s.epoch });
  for (const move of change.moves) {
    const sources = liveSources(move, change);
    const targets = ownersToVerify(move);
    if (move.state === 'pending' || (move.state === 'streamed' && epochSpread)) {
      const reason = stallReason(move, sources, ctx);
      if (reason !== null) actions.push({ kind: 'stalled', partition: move.partition, reason });
      else if (move.state === 'pending') {
        const from = sources.filter((id) => !ctx.down.has(id) && !targets.includes(id));
        actions.push({ kind: 'stream', partition: move.partition, from, to: targets });
      } else {
        const members = [...new Set([...targets, ...sources])].filter((id) => !ctx.down.has(id));
        actions.push({ kind: 'verify', partition: move.partition, members });
      }
    } else if (move.state === 'moved') {
      const due = cleanupDueAtMs(move, ctx.graceMs)!;
      actions.push(
        ctx.nowMs >= due
          ? { kind: 'drop', partition: move.partition, members: droppedBy(move, change) }
          : { kind: 'wait', partition: move.partition, untilMs: due },
      );
    }
  }
  return actions;
}

/** The steps the reports call for; a streamed partition moves only once its epoch is everywhere. */
function stepsOf(s: MembershipState, reports: readonly DriverReport[], ctx: DriverContext): MoveStep[] {
  const states = new Map((s.change?.moves ?? []).map((m) => [m.partition, m.state]));
  const steps: MoveStep[] = [];
  for (const r of reports) {
    if (r.kind === 'dropped') steps.push({ kind: 'cleaned', partition: r.partition });
    else if (states.get(r.partition) !== 'streamed') steps.push({ ...r, kind: 'streamed' });
    // Moving waits until no member can still count the old owners alone (see moveOwnership).
    else if (ctx.installedEpoch >= s.epoch) steps.push({ ...r, kind: 'moved' });
  }
  return steps;
}

interface Applied {
  readonly state: MembershipState;
  readonly refused: ConvergeError | null;
}

function applyEvent(s: MembershipState, event: DriverEvent, ctx: DriverContext): Applied {
  switch (event.kind) {
    case 'tick':
      return { state: s, refused: null };
    case 'cancel':
      return { state: cancelChange(s), refused: null };
    case 'digests':
    case 'dropped':
      return { state: applyMoveSteps(s, stepsOf(s, [event], ctx), ctx.nowMs, ctx.graceMs), refused: null };
    case 'reports': {
      // A batch applies what it can: one partition behind must not hold back the others.
      let refused: ConvergeError | null = null;
      const state = applyMoveSteps(s, stepsOf(s, event.reports, ctx), ctx.nowMs, ctx.graceMs, (_, e) => {
        refused ??= e;
      });
      return { state, refused };
    }
  }
}

/** The partial copies a cancelled change leaves on the owners it would have added. */
function discards(cancelled: MembershipState): DriverAction[] {
  return (cancelled.change?.moves ?? []).map((m) => ({
    kind: 'discard' as const,
    partition: m.partition,
    members: m.to.filter((id) => !m.from.includes(id)),
  }));
}

/** One step: apply the event, then plan. A refused event leaves the state as it was and says why. */
export function driveChange(s: MembershipState, event: DriverEvent, ctx: DriverContext): DriverStep {
  let next = s;
  let refused: ConvergeError | null = null;
  try {
    ({ state: next, refused } = applyEvent(s, event, ctx));
  } catch (e) {
    if (!(e instanceof ConvergeError)) throw e;
    refused = e;
  }
  const actions = planChange(next, ctx);
  if (event.kind === 'cancel' && refused === null) actions.push(...discards(s));
  if (next.epoch !== s.epoch) actions.unshift({ kind: 'persist', epoch: next.epoch });
  return { state: next, actions, refused };
}

/** After a restart: the stored state and its plan; nothing else is needed to carry on (or to cancel). */
export function resumeChange(stored: Uint8Array, ctx: DriverContext): DriverStep {
  const state = decodeMembership(stored);
  return { state, actions: planChange(state, ctx), refused: null };
}
