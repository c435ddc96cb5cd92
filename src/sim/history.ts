// One history: boot the cluster, run the workload under faults for the active phase, heal everything, then
// require convergence within the bound, let tombstone GC run, and check the final state. Everything is drawn
// from the seed, so `runHistory(seed)` replays the same history, event for event.

import { hash64 } from '../core/hash.js';
import { seededRandom } from '../core/random.js';
import { checkFinal, checkRunning, converged, describeRoots } from './checker.js';
import { configFor, describeConfig, type SimConfig, type SimOverrides } from './config.js';
import { MembershipNemesis } from './membership.js';
import { Nemesis } from './nemesis.js';
import { LivelockError, type Owner, Scheduler } from './scheduler.js';
import { Trace } from './trace.js';
import { Workload } from './workload.js';
import { World } from './world.js';

export interface HistoryOptions extends SimOverrides {
  /** Print the trace as it happens. */
  readonly echo?: boolean;
}

export interface HistoryResult {
  readonly seed: number;
  readonly config: SimConfig;
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly trace: readonly string[];
  /** Virtual milliseconds from the heal to equal digests, null if they never became equal. */
  readonly convergedAfterMs: number | null;
  readonly events: number;
  readonly virtualMs: number;
  readonly ops: { readonly issued: number; readonly acknowledged: number };
  readonly messages: {
    readonly sent: number;
    readonly dropped: number;
    readonly duplicated: number;
    readonly blocked: number;
  };
  /** A hash of the trace and the final digests: equal signatures mean the same history. */
  readonly signature: string;
}

const eventsMax = 3_000_000;
const failuresMax = 20;
const checkEveryMs = 250;

export async function runHistory(seed: number, options: HistoryOptions = {}): Promise<HistoryResult> {
  const random = seededRandom(seed);
  const config = configFor(seed, random, options);
  const scheduler = new Scheduler({ eventsMax });
  const trace = new Trace(() => scheduler.nowMs, options.echo ?? false);
  const world = new World(config, scheduler, random, trace);
  const failures: string[] = [];
  const fail = (message: string): void => {
    if (failures.length < failuresMax) failures.push(`${(scheduler.nowMs / 1000).toFixed(3)}s ${message}`);
    trace.log(`CHECK FAILED: ${message}`);
  };
  const onUnhandled = (reason: unknown): void =>
    fail(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`);
  process.on('unhandledRejection', onUnhandled);
  const failed = (): boolean => failures.length > 0;
  let convergedAfterMs: number | null = null;
  const workload = new Workload(world);
  try {
    trace.log(`seed ${seed}: ${describeConfig(config)}`);
    for (const n of world.nodes) world.boot(n);
    const checker: Owner = { name: 'checker', alive: true };
    const changes = new MembershipNemesis(world);
    const sample = (): void => {
      changes.follow();
      checkRunning(world, fail);
      scheduler.schedule(checker, checkEveryMs, sample);
    };
    scheduler.schedule(checker, checkEveryMs, sample);
    const nemesis = new Nemesis(world);
    workload.start();
    nemesis.start();
    changes.start();
    await scheduler.runUntil(config.activeMs, failed);
    workload.stop();
    nemesis.stop();
    changes.stop();
    if (!failed()) {
      nemesis.healAll();
      changes.heal();
      await awaitChange(world, changes, failed);
      convergedAfterMs = await awaitConvergence(world, failed);
      if (convergedAfterMs === null) {
        if (!failed())
          fail(`replicas still differ ${config.convergeBoundMs} ms after the heal: ${describeRoots(world)}`);
      } else {
        world.noteSessionsSoFar();
        trace.log(`converged ${convergedAfterMs.toFixed(0)} ms after the heal: ${describeRoots(world)}`);
      }
    }
    if (!failed()) {
      // Tombstone GC runs on; purges may differ for a moment between nodes, so converge once more.
      await scheduler.runUntil(scheduler.nowMs + config.settleMs, failed);
      if ((await awaitConvergence(world, failed)) === null && !failed())
        fail(`replicas differ again after tombstone GC: ${describeRoots(world)}`);
      if (!failed()) checkRunning(world, fail);
      if (!failed()) checkFinal(world, workload.ops, fail);
      if (!failed()) trace.log(`checks passed: ${describeRoots(world)}`);
    }
  } catch (err) {
    if (err instanceof LivelockError) fail(err.message);
    else fail(`the simulator stopped: ${err instanceof Error ? err.stack : String(err)}`);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return resultOf(seed, world, workload, trace, failures, convergedAfterMs);
}

/** The outcome of a history, with a signature of its trace and final digests. */
function resultOf(
  seed: number,
  world: World,
  workload: Workload,
  trace: Trace,
  failures: readonly string[],
  convergedAfterMs: number | null,
): HistoryResult {
  const { scheduler, config } = world;
  const ops = workload.ops;
  const signatureInput = `${trace.lines.join('\n')}\n${scheduler.events}\n${describeRoots(world)}`;
  const [hi, lo] = hash64(new TextEncoder().encode(signatureInput));
  return {
    seed,
    config,
    ok: failures.length === 0,
    failures,
    trace: trace.lines,
    convergedAfterMs,
    events: scheduler.events,
    virtualMs: scheduler.nowMs,
    ops: {
      issued: ops.length,
      acknowledged: ops.filter((o) => o.kind !== 'get' && o.outcome === 'ok').length,
    },
    messages: { ...world.network.counts },
    signature: `${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`,
  };
}

/**
 * Runs until the membership change has finished, cleanup included (or the bound passes: the checks then
 * apply to the ring as installed).
 */
async function awaitChange(world: World, changes: MembershipNemesis, failed: () => boolean): Promise<void> {
  const { scheduler, config } = world;
  if (changes.progress() === null) return;
  const from = scheduler.nowMs;
  await scheduler.runUntil(from + config.changeBoundMs, () => {
    changes.follow();
    return changes.progress() === null || failed();
  });
  const left = changes.progress();
  if (left === null)
    world.trace.log(`the change finished ${(scheduler.nowMs - from).toFixed(0)} ms after the heal`);
  else world.trace.log(`the change did not finish within ${config.changeBoundMs} ms of the heal: ${left}`);
}

/** Runs until all digests are equal (returns how long it took) or the convergence bound passes (null). */
async function awaitConvergence(world: World, failed: () => boolean): Promise<number | null> {
  const { scheduler, config } = world;
  const from = scheduler.nowMs;
  let done = converged(world);
  await scheduler.runUntil(from + config.convergeBoundMs, () => {
    done = done || converged(world);
    return done || failed();
  });
  return done ? scheduler.nowMs - from : null;
}
