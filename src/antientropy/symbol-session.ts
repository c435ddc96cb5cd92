// The symbol path inside a session: one probe, the peer's symbols if the probe did not decode, the headers of
// the peer's differing records, then repair. Falls back to the tree descent (the caller runs it) when the
// path cannot decode, keeping and repairing what it found; the choice and its reason go into the history
// entry.

import { ConvergeError } from '../core/errors.js';
import type { Difference } from '../core/reconcile-types.js';
import type { ReconcileScope } from '../core/reconciler.js';
import { reconcileSymbols } from '../core/symbol-driver.js';
import { SymbolReconciler, symbolPathOptionsDefault } from '../core/symbol-reconciler.js';
import { symbolSource } from '../core/symbol-shared.js';
import type { SymbolScope } from '../core/wire-symbols.js';
import type { SessionRun } from './session.js';
import type { SessionEnv } from './session-env.js';
import { enterPhase } from './session-phase.js';

type Call = (body: Uint8Array) => Promise<Uint8Array>;
interface Steps {
  readonly repair: (
    env: SessionEnv,
    run: SessionRun,
    diffs: Difference[],
    call: Call,
    signal: AbortSignal,
  ) => Promise<void>;
  readonly checkpoint: (env: SessionEnv, run: SessionRun) => Promise<void>;
}

/** A session's scope (digest nodes of one level, one per shared partition) as the symbol path names it. */
export function symbolScopeOf(scope: ReconcileScope | undefined): SymbolScope | undefined {
  return scope === undefined ? undefined : { partitionBits: scope.level, partitions: scope.indexes };
}

/**
 * Why the symbol path is not tried with this replica over this scope (undefined: the whole keyspace), or
 * undefined when it is: sessions and `converge diff` make the same choice.
 */
export function symbolPathSkipped(
  replica: SessionEnv['replica'],
  scope?: ReconcileScope,
): string | undefined {
  const source = symbolSource(replica, symbolScopeOf(scope));
  if (typeof source === 'string') {
    const option = scope === undefined ? '--ae-symbols 0' : '--ae-partition-symbols';
    return `${source} (${option}): ${scope === undefined ? '' : 'scoped '}tree descent`;
  }
  // An empty replica gains nothing from symbols: whole ranges come faster through the tree's bulk path.
  if (source.root().count === 0) return 'this replica holds nothing here: bulk path';
  return undefined;
}

/**
 * Runs the symbol path to its outcome (nothing repaired). A peer that does not speak it (an older node, or
 * one without symbols for the scope) answers with a protocol error: that is a fallback, not a failure.
 */
export async function discoverBySymbols(
  replica: SessionEnv['replica'],
  salt: number,
  call: Call,
  signal?: AbortSignal,
  scope?: ReconcileScope,
): Promise<SymbolReconciler> {
  const options = { ...symbolPathOptionsDefault, salt, scope: symbolScopeOf(scope) };
  const path = new SymbolReconciler(replica, options);
  try {
    await reconcileSymbols(path, call);
  } catch (err) {
    if (signal?.aborted || !(err instanceof ConvergeError) || !err.code.startsWith('PROTOCOL')) throw err;
    path.outcome = { kind: 'fallback', reason: `the peer refused the symbol path: ${err.message}` };
  }
  return path;
}

/** Runs the symbol path; 'decoded' when it found the whole difference (and repaired it). */
export async function runSymbolPath(
  env: SessionEnv,
  run: SessionRun,
  call: Call,
  signal: AbortSignal,
  steps: Steps,
): Promise<'decoded' | 'fallback'> {
  // A session over some partitions only (RF < N) sums the symbols of exactly those partitions.
  const scope = run.range.scope;
  const skipped = symbolPathSkipped(env.replica, scope);
  if (skipped !== undefined) {
    run.discovery = { path: 'tree', reason: skipped, estimate: 0 };
    return 'fallback';
  }
  enterPhase(run, 'discovering');
  const throttled = async (req: Uint8Array): Promise<Uint8Array> => {
    await env.throttle.take(0, req.length, signal);
    return call(req);
  };
  const path = await discoverBySymbols(env.replica, run.salt, throttled, signal, scope);
  const s = path.stats;
  run.counts.bytesSent += s.bytesSent;
  run.counts.bytesReceived += s.bytesReceived;
  run.counts.roundTrips += s.roundTrips;
  const decoded = path.outcome?.kind === 'decoded';
  const over = scope === undefined ? '' : ` over ${scope.indexes.length} shared partitions`;
  run.discovery = {
    path: decoded ? 'symbols' : 'symbols-then-tree',
    reason:
      path.outcome?.kind === 'fallback'
        ? `${path.outcome.reason}${over}`
        : `decoded ${s.items} differing items${over}`,
    estimate: s.estimate,
  };
  if (path.differences.length > 0) {
    // A crash during this repair resumes as a tree descent from the root: it finds whatever is left.
    await steps.checkpoint(env, run);
    enterPhase(run, 'repairing');
    await steps.repair(env, run, path.differences, call, signal);
  }
  if (signal.aborted) throw signal.reason;
  return decoded ? 'decoded' : 'fallback';
}
