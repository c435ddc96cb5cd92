// The loop that drives a membership change to its end on the node that drives it (handle.drives()): on every
// tick it plans from the installed state (the core's planChange, so a restart resumes from the stored state
// alone), streams the pending partitions to their new owners through anti-entropy sessions, measures their
// digests, hands the evidence to the core (driveChange) and installs the next state; after the grace it has
// the old owners drop their copies. A cancel discards the partial copies at once where it can (each member
// also keeps its own durable list, carried out after the grace); a replace drops the dead member's hints on
// every member. What it measures feeds `converge cluster members` (MembershipDriverView).

import { ConvergeError } from '../core/errors.js';
import { backgroundFailures, type Logger, logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import type { MembershipChange, MembershipState } from '../core/membership.js';
import {
  type DriverAction,
  type DriverContext,
  type DriverReport,
  driveChange,
  planChange,
} from '../core/membership-driver.js';
import { cleanupGraceMsDefault } from '../core/membership-moves.js';
import type { Timers } from '../core/timers.js';
import {
  type ActionEnv,
  dropCopies,
  dropHintsFor,
  type MemberCall,
  type MembershipDriverSettings,
  measureMoves,
  streamAndMeasure,
} from './membership-driver-actions.js';
import { StreamingMeter } from './membership-driver-progress.js';
import type { MembershipDriverView, MembershipHandle } from './membership-handle.js';
import { DownTimes, installedEverywhere, takeoverCandidate } from './membership-liveness.js';
import type { Transport } from './transport.js';

export type { MembershipDriverSettings } from './membership-driver-actions.js';
export { installedEverywhere, takeoverCandidate } from './membership-liveness.js';

export const membershipDriverDefaults: MembershipDriverSettings = {
  cleanupGraceMs: cleanupGraceMsDefault,
  streamingConcurrency: 4,
  tickMs: 1000,
  partitionsPerSessionMax: 64,
  // Below the transport's own bound on a response (peerResponseTimeoutMsMax): a longer session goes on on the
  // new owner, and the next wave's call waits for it there.
  streamTimeoutMs: 100_000,
  requestTimeoutMs: 60_000,
  takeoverAfterMs: 60_000,
};

/**
 * The driver's calls to the members: its own routes directly (a transport knows only the other nodes), the
 * others' through the transport.
 */
export function memberCallOf(
  node: {
    readonly id: string;
    handleInternal(route: string, body: Uint8Array, from?: string): Promise<Uint8Array>;
  },
  transport: Transport,
): MemberCall {
  return (member, route, body, timeoutMs, signal) =>
    member === node.id
      ? node.handleInternal(route, body, node.id)
      : transport.call(member, { route, body, timeoutMs, ...(signal === undefined ? {} : { signal }) });
}

export interface MembershipDriverDeps {
  /** Calls a member's internal route (the node's transport, which knows every member's address). */
  readonly call: MemberCall;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly settings?: Partial<MembershipDriverSettings>;
  readonly logger?: Logger;
}

export interface MembershipDriver {
  /** Starts the tick; resumes a change in progress from the installed state. */
  start(): void;
  /** Stops the tick and waits for the pass under way (its calls are abandoned). */
  stop(): Promise<void>;
  /** Cancels the change in progress (CHANGE_NOT_CANCELLABLE once a partition moved); returns the new state. */
  cancel(): Promise<MembershipState>;
  /** One pass now (the tick calls it; tests may too); true when it streamed (more may follow at once). */
  tick(): Promise<boolean>;
  readonly view: MembershipDriverView;
}

/** Whether `next` (no change) is `prev`'s change cancelled rather than finished: the ring is the old one. */
function cancelledIn(prev: MembershipChange, next: MembershipState): boolean {
  const m = prev.moves[0];
  if (m === undefined || next.change !== null) return false;
  const list = next.ring.replicasOf(m.partition);
  return list.length === m.from.length && m.from.every((id) => list.includes(id));
}

/** What a cancelled change leaves to discard: each partition's partial copies on the owners it would add. */
interface Discard {
  readonly partition: number;
  readonly members: string[];
  /** The cancelled change's sinceEpoch. */
  readonly epoch: number;
}

function discardsOf(change: MembershipChange): Discard[] {
  return change.moves
    .map((m) => ({
      partition: m.partition,
      members: m.to.filter((id) => !m.from.includes(id)),
      epoch: change.sinceEpoch,
    }))
    .filter((d) => d.members.length > 0);
}

export function createMembershipDriver(
  handle: MembershipHandle,
  deps: MembershipDriverDeps,
): MembershipDriver {
  return new DriverLoop(handle, deps);
}

class DriverLoop implements MembershipDriver {
  private readonly settings: MembershipDriverSettings;
  private readonly logger: Logger;
  private readonly meter = new StreamingMeter();
  private readonly attempts = new Map<number, number>();
  /** Per partition: waves whose session failed (they go to the back, so one broken owner starves none). */
  private readonly failures = new Map<number, number>();
  private stalledNow: Array<{ partition: number; reason: string }> = [];
  private abort = new AbortController();
  private running: Promise<void> | null = null;
  private passing: Promise<unknown> = Promise.resolve();
  /** Serialises the read-step-install sections of passes and cancels (one next state at a time). */
  private lock: Promise<unknown> = Promise.resolve();
  /** The change seen last while this node drove it, to tell a cancel by another node. */
  private seen: MembershipChange | null = null;
  private discards: Discard[] = [];
  /** Per replace (by its sinceEpoch): the members that dropped the dead member's hints. */
  private hintsDropped = new Map<number, Set<string>>();
  /** Since when this node has seen the change's driver unreachable (another member's change). */
  private driverDownSince: { driver: string; sinceMs: number } | null = null;
  /** Since when each member this node believes down has been so. */
  private readonly downTimes = new DownTimes();
  private readonly unsubscribe: () => void;

  readonly view: MembershipDriverView = {
    progress: () => {
      const s = this.handle.current();
      return s.change === null ? null : this.meter.progress(s, this.deps.clock.now());
    },
    stalled: () => this.stalledNow,
  };

  constructor(
    private readonly handle: MembershipHandle,
    private readonly deps: MembershipDriverDeps,
  ) {
    this.settings = { ...membershipDriverDefaults, ...deps.settings };
    this.logger = deps.logger ?? backgroundFailures.logger;
    this.unsubscribe = handle.onInstalled((s) => this.observe(s));
  }

  start(): void {
    if (this.running !== null) return;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.running = (async () => {
      while (!signal.aborted) {
        const more = await this.tick().catch((err: unknown) => {
          logFailure('membership driver pass')(err);
          return false;
        });
        // Another wave follows soon after one that streamed; otherwise the next tick.
        const waitMs = more ? Math.ceil(this.settings.tickMs / 10) : this.settings.tickMs;
        try {
          await this.deps.timers.sleep(waitMs, signal);
        } catch {
          return;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort(new ConvergeError('UNAVAILABLE', 'membership driver stopped'));
    this.unsubscribe();
    await this.running;
    await this.passing.catch(logFailure('membership driver pass', 'debug'));
    this.running = null;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** A cancel installed by another node while this one drove: the partial copies are this node's to discard. */
  private observe(s: MembershipState): void {
    const prev = this.seen;
    if (s.change !== null && this.handle.drives()) this.seen = s.change;
    if (prev !== null && s.change === null) {
      this.seen = null;
      if (cancelledIn(prev, s)) this.discards.push(...discardsOf(prev));
      this.meter.reset();
      this.attempts.clear();
      this.failures.clear();
      this.stalledNow = [];
    }
  }

  /** Members down for at least the takeover limit, from this node's view. */
  private gone(): Set<string> {
    return this.downTimes.downFor(this.handle.down(), this.deps.clock.now(), this.settings.takeoverAfterMs);
  }

  private context(s: MembershipState): DriverContext {
    return {
      nowMs: this.deps.clock.now(),
      graceMs: this.settings.cleanupGraceMs,
      down: this.handle.down(),
      installedEpoch: installedEverywhere(s, this.handle.installedEpochs(), this.gone()),
    };
  }

  private actionEnv(): ActionEnv {
    return {
      call: this.deps.call,
      settings: this.settings,
      down: this.handle.down(),
      gone: this.gone(),
      meter: this.meter,
      nowMs: () => this.deps.clock.now(),
      signal: this.abort.signal,
      logger: this.logger,
      attempts: this.attempts,
    };
  }

  tick(): Promise<boolean> {
    const pass = this.passing.then(() => this.pass());
    this.passing = pass.catch(() => undefined);
    return pass;
  }

  private async pass(): Promise<boolean> {
    await this.discardPending();
    const s = this.handle.current();
    if (s.change === null || !this.handle.drives()) {
      this.stalledNow = [];
      if (s.change !== null) await this.watchDriver(s);
      return false;
    }
    this.driverDownSince = null;
    this.seen = s.change;
    const env = this.actionEnv();
    await this.dropReplacedHints(env, s);
    const actions = planChange(s, this.context(s));
    this.stalledNow = actions.flatMap((a) =>
      a.kind === 'stalled' ? [{ partition: a.partition, reason: a.reason }] : [],
    );
    const reports = await this.carryOut(env, s, actions);
    if (reports.length > 0 && !this.abort.signal.aborted) await this.report(reports);
    return actions.some((a) => a.kind === 'stream' || a.kind === 'verify');
  }

  /** The tick's streaming and verifying (then the digests), and the drops that fell due. */
  private async carryOut(
    env: ActionEnv,
    s: MembershipState,
    actions: DriverAction[],
  ): Promise<DriverReport[]> {
    // A verify also runs a short session first: a write that reached the old owners alone (a coordinator
    // still routing by an older state) is caught up before the evidence is measured, not refused forever.
    const moving = this.wave(actions);
    const { reports, failed } = await streamAndMeasure(env, s, moving);
    // The pending partitions this wave left out are measured too: the progress counts every one of them.
    const rest = s.change!.moves.filter((m) => m.state === 'pending' && !moving.includes(m.partition));
    if (rest.length > 0 && !env.signal.aborted)
      await measureMoves(
        env,
        s,
        rest.map((m) => m.partition),
      );
    // A session that ended without the evidence turns to another source next time; one that failed (a new
    // owner restarting) keeps its source, and goes after the partitions not tried yet.
    for (const p of moving) {
      const count = failed.has(p) ? this.failures : this.attempts;
      count.set(p, (count.get(p) ?? 0) + 1);
    }
    const drops = actions.flatMap((a) => (a.kind === 'drop' ? [a] : []));
    if (drops.length > 0) {
      const done = await dropCopies(env, drops, 'cleanup', s.change!.sinceEpoch);
      reports.push(...done.map((partition) => ({ kind: 'dropped' as const, partition })));
    }
    return reports;
  }

  /**
   * The partitions this pass streams or verifies: one wave (streamingConcurrency sessions of at most
   * partitionsPerSessionMax), those tried least first, so that progress is stored after every wave and a
   * partition that keeps failing does not hold back the others.
   */
  private wave(actions: readonly DriverAction[]): number[] {
    const all = actions.flatMap((a) => (a.kind === 'stream' || a.kind === 'verify' ? [a.partition] : []));
    const tried = (p: number): number => (this.attempts.get(p) ?? 0) + (this.failures.get(p) ?? 0);
    all.sort((a, b) => tried(a) - tried(b) || a - b);
    return all.slice(0, this.settings.streamingConcurrency * this.settings.partitionsPerSessionMax);
  }

  /** Applies the tick's reports as one step on the state installed now, and installs the result. */
  private report(reports: DriverReport[]): Promise<void> {
    return this.serial(async () => {
      const cur = this.handle.current();
      if (cur.change === null || !this.handle.drives()) return;
      const step = driveChange(cur, { kind: 'reports', reports }, this.context(cur));
      if (step.refused !== null)
        this.logger.debug({ err: step.refused.message }, 'membership step: some reports refused');
      if (step.state.epoch === cur.epoch) return;
      for (const m of step.state.change?.moves ?? [])
        if (m.state !== 'pending') this.attempts.delete(m.partition);
      await this.handle.install(step.state);
      if (step.state.change === null)
        this.logger.info({ epoch: step.state.epoch }, 'membership change finished');
    });
  }

  cancel(): Promise<MembershipState> {
    return this.serial(async () => {
      const cur = this.handle.current();
      const step = driveChange(cur, { kind: 'cancel' }, this.context(cur));
      if (cur.change === null)
        throw new ConvergeError('NO_CHANGE_IN_PROGRESS', 'no membership change is in progress');
      if (step.refused !== null) throw step.refused;
      // The sessions under way are abandoned; the discards below cancel them on the new owners.
      this.abort.abort(new ConvergeError('CONFLICT', 'the membership change was cancelled'));
      this.seen = null;
      this.discards.push(...discardsOf(cur.change));
      await this.handle.install(step.state);
      this.restartAfterCancel();
      await this.discardPending();
      return step.state;
    });
  }

  /** A cancel aborts the pass under way; the tick goes on with a fresh signal. */
  private restartAfterCancel(): void {
    const wasRunning = this.running !== null;
    this.abort = new AbortController();
    this.meter.reset();
    this.attempts.clear();
    this.failures.clear();
    this.stalledNow = [];
    if (wasRunning) {
      this.running = null;
      this.start();
    }
  }

  private async discardPending(): Promise<void> {
    if (this.discards.length === 0) return;
    const todo = this.discards;
    this.discards = [];
    const epoch = Math.max(...todo.map((d) => d.epoch));
    const done = new Set(await dropCopies(this.actionEnv(), todo, 'discard', epoch));
    // Tried once: a member not reached discards its copies itself after the grace, from the list it stored
    // when it installed the end of the change (membership-discards.ts), whatever becomes of this node.
    const left = todo.filter((d) => !done.has(d.partition)).length;
    if (left > 0)
      this.logger.info(
        { partitions: left },
        'discards not reached now: left to the members, after the grace',
      );
  }

  /**
   * Another member drives the change: once it has been unreachable from here for takeoverAfterMs, and this
   * node is the one to take over, it becomes the driver (majority-reserved epoch) and the next pass resumes
   * the change from the installed state.
   */
  private async watchDriver(s: MembershipState): Promise<void> {
    const driver = this.handle.driver?.() ?? null;
    const self = this.handle.self;
    const down = this.handle.down();
    if (driver === null || self === undefined || this.handle.takeOver === undefined || !down.has(driver)) {
      this.driverDownSince = null;
      return;
    }
    const now = this.deps.clock.now();
    if (this.driverDownSince?.driver !== driver) this.driverDownSince = { driver, sinceMs: now };
    if (now - this.driverDownSince.sinceMs < this.settings.takeoverAfterMs) return;
    if (takeoverCandidate(s, down, driver) !== self) return;
    this.logger.warn(
      { driver, unreachableMs: now - this.driverDownSince.sinceMs },
      `membership change driver ${driver} unreachable: ${self} takes the change over`,
    );
    await this.handle.takeOver();
    this.driverDownSince = null;
  }

  /** A replace: every member but the dead one drops the hints it keeps for it (once per member). */
  private async dropReplacedHints(env: ActionEnv, s: MembershipState): Promise<void> {
    const change = s.change!;
    if (change.kind !== 'replace' || change.replaced === null) return;
    const done = this.hintsDropped.get(change.sinceEpoch) ?? new Set<string>();
    this.hintsDropped.set(change.sinceEpoch, done);
    const todo = s.members.map((m) => m.id).filter((id) => id !== change.replaced && !done.has(id));
    for (const id of await dropHintsFor(env, todo, change.replaced)) done.add(id);
  }
}
