// A session's phases and the moves between them, asserted where they happen: a session discovers and repairs
// in turns, and once done it never moves again. A session's outcome is asserted against its phase when it
// is recorded (runner.ts), the other half of the pair.

import { assert } from '../core/errors.js';
import type { SessionProgress } from './types.js';

export type SessionPhase = SessionProgress['phase'];

const moves: Readonly<Record<SessionPhase, readonly SessionPhase[]>> = {
  discovering: ['discovering', 'repairing', 'done'],
  repairing: ['discovering', 'repairing', 'done'],
  done: [],
};

export function enterPhase(run: { readonly id: string; phase: SessionPhase }, next: SessionPhase): void {
  assert(moves[run.phase].includes(next), `session ${run.id} moves from ${run.phase} to ${next}`);
  run.phase = next;
}

/**
 * A session recorded as converged or repaired ran to its end; a failed or cancelled one says why. Checked on
 * every history entry, so a session that stopped half-way cannot be reported as a success.
 */
export function assertOutcome(
  run: { readonly id: string; readonly phase: SessionPhase },
  result: string,
  error: string | null,
): void {
  const success = result === 'converged' || result === 'repaired';
  assert(!success || (run.phase === 'done' && error === null), `session ${run.id} ${result} ran to its end`);
  assert(success || error !== null, `session ${run.id} ${result} says why`);
}
