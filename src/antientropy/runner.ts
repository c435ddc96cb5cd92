// Runs sessions: one per pair of replicas at a time (whichever side began it) and at most `sessionsMax` per
// node (so peers take turns repairing a node that fell behind instead of sending it the same records; a
// membership change's streaming sessions are bounded by the driver instead), with
// begin/end messages that exchange watermarks, a durable checkpoint after every round, and a history entry
// per session. A session the peer refuses to begin (busy) is no session: nothing is recorded.

import { decodeJson, encodeJson } from '../cluster/codec.js';
import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { Reconciler } from '../core/reconciler.js';
import type { Topology } from '../core/topology.js';
import type { AntiEntropyMetrics } from './metrics.js';
import { boundRuns, describeRange, type SessionRange, sessionRange, streamingRange } from './ring.js';
import { reconcilerOptions, runRounds, type SessionRun } from './session.js';
import { busyClock, type SessionEnv } from './session-env.js';
import { sessionFraction } from './session-fraction.js';
import { assertOutcome } from './session-phase.js';
import type { SessionCheckpoint } from './state.js';
import { copiesOf, fastPathNote, isStreamState } from './stream-session.js';
import type { SessionHistoryEntry, SessionProgress, SessionResult } from './types.js';
import type { HeardWatermark, Watermark } from './watermark.js';

/** Whether a checkpoint was taken under the same ring epoch and over the same partitions. */
function sameRange(cp: SessionCheckpoint, range: SessionRange): boolean {
  // A checkpoint from before the ring covered every partition: still good for an unscoped session.
  if (cp.epoch === undefined) return range.scope === undefined;
  if (cp.epoch !== range.epoch) return false;
  const parts = cp.partitions;
  if (range.scope === undefined) return parts === undefined;
  return (
    parts !== undefined &&
    parts.length === range.partitions.length &&
    parts.every((p, i) => p === range.partitions[i])
  );
}

/** The first token of a partition: what the purge bound of the partition is looked up by. */
function partitionToken(t: Topology, partition: number): Uint8Array {
  return t.partitionRange(partition).start;
}

/** A membership change's streaming session: these partitions, under the change's epoch (ring.ts). */
export interface StreamingScope {
  readonly partitions: readonly number[];
  readonly epoch: number;
}

/** How long a session that has to wait its turn (`wait`) sleeps before asking again. */
const busyRetryMs = 50;

const refused = (err: unknown): boolean => err instanceof ConvergeError && err.code === 'CONFLICT';

const zeroCounts = {
  keysCompared: 0,
  keysDivergent: 0,
  keysPulled: 0,
  keysPushed: 0,
  bytesSent: 0,
  bytesReceived: 0,
  roundTrips: 0,
};

export class SessionRunner {
  private readonly outgoing = new Map<
    string,
    { run: SessionRun; done: Promise<SessionHistoryEntry>; cancel: AbortController }
  >();
  /** Sessions peers run with us, with a lease that each of their messages renews. */
  private readonly incoming = new Map<string, { id: string; leaseUntilMs: number; streaming: boolean }>();
  private seq = 0;

  constructor(
    readonly env: SessionEnv,
    private readonly metrics: AntiEntropyMetrics,
    private readonly watermark: Watermark,
    private readonly isPeer: (peer: string) => boolean,
  ) {}

  /** A peer this node runs sessions with: a member sharing at least one partition with it. */
  knows(peer: string): boolean {
    return this.isPeer(peer);
  }

  /** What a session with `peer` covers under the ring as it is now. */
  rangeWith(peer: string): SessionRange {
    return sessionRange(this.env.topology(), this.env.id, peer);
  }

  /** Leases run on the monotonic clock: a wall clock set back must not hold a lease for as long. */
  private leaseNow(): number {
    return busyClock(this.env)();
  }

  /** True while a session runs with this node on either side. */
  busy(): boolean {
    if (this.outgoing.size > 0) return true;
    for (const peer of this.incoming.keys()) if (this.incomingActive(peer)) return true;
    return false;
  }

  /**
   * Runs one session with `peer`. Without `wait`, a session already running with it is left alone and a busy
   * node or peer throws CONFLICT (the scheduler tries again next interval); with `wait`, it waits its turn.
   * With `streaming`, the session covers those partitions alone and takes their records (a new owner).
   */
  async run(
    peer: string,
    signal: AbortSignal,
    options: { wait?: boolean; streaming?: StreamingScope } = {},
  ): Promise<SessionHistoryEntry> {
    for (;;) {
      const active = this.outgoing.get(peer);
      if (active !== undefined) {
        if (!options.wait) return active.done;
        await active.done.catch(logFailure('session awaited by another run', 'debug'));
        continue;
      }
      // A membership change's streaming sessions are bounded by the driver (--membership-streaming-concurrency),
      // not by sessionsMax: a new owner streams from each source at once, and repair does not hold it back.
      const busy = this.incomingActive(peer)
        ? `${peer} is running a session with this node`
        : options.streaming === undefined
          ? this.busyWithOthers(peer)
          : null;
      if (busy === null) {
        const run = this.newRun(peer, options.streaming);
        // Its own signal, so an operator can cancel this session alone (cancel()); stopping the process still
        // cancels it through `signal`.
        const cancel = new AbortController();
        const onStop = (): void => cancel.abort(signal.reason);
        signal.addEventListener('abort', onStop, { once: true });
        const done = this.execute(run, cancel.signal).finally(() => {
          signal.removeEventListener('abort', onStop);
          this.outgoing.delete(peer);
        });
        this.outgoing.set(peer, { run, done, cancel });
        if (!options.wait) return done;
        try {
          return await done;
        } catch (err) {
          if (!refused(err)) throw err;
        }
      } else if (!options.wait) throw new ConvergeError('CONFLICT', busy);
      await this.env.timers.sleep(busyRetryMs, signal);
    }
  }

  /** Why this node may not run another session with `peer` now (sessionsMax reached), or null. */
  private busyWithOthers(peer: string): string | null {
    const now = this.leaseNow();
    let running = 0;
    for (const [p, a] of this.outgoing) if (p !== peer && a.run.range.receiving === undefined) running += 1;
    for (const [p, s] of this.incoming) if (p !== peer && !s.streaming && s.leaseUntilMs > now) running += 1;
    const max = this.env.limits.sessionsMax;
    return running >= max ? `${this.env.id} is running ${running} sessions (sessionsMax ${max})` : null;
  }

  private newRun(peer: string, streaming?: StreamingScope): SessionRun {
    const range =
      streaming === undefined
        ? this.rangeWith(peer)
        : streamingRange(this.env.topology(), streaming.partitions, streaming.epoch);
    const cp = this.env.state.checkpoint(peer, streaming !== undefined);
    // A checkpoint of another ring epoch or range holds a frontier of another scope: start afresh.
    if (cp !== undefined && sameRange(cp, range)) {
      const reconciler = Reconciler.resume(
        this.env.replica,
        reconcilerOptions(this.env, cp.salt, range.scope),
        Buffer.from(cp.frontier, 'base64'),
      );
      return {
        id: cp.id,
        peer,
        startedAtMs: cp.startedAtMs,
        salt: cp.salt,
        resumed: true,
        counts: { ...cp.counts },
        phase: 'discovering',
        reconciler,
        range,
        copies: copiesOf(this.env, range),
        ...(isStreamState(cp.stream) ? { stream: cp.stream } : {}),
      };
    }
    const salt = Math.floor(this.env.random.next() * 2 ** 32) >>> 0;
    const id = `${this.env.id}-${peer}-${this.env.clock.now().toString(36)}-${(this.seq++).toString(36)}`;
    const reconciler = new Reconciler(this.env.replica, reconcilerOptions(this.env, salt, range.scope));
    return {
      id,
      peer,
      startedAtMs: this.env.clock.now(),
      salt,
      resumed: false,
      counts: { ...zeroCounts },
      phase: 'discovering',
      reconciler,
      range,
      copies: copiesOf(this.env, range),
    };
  }

  /** The begin message's watermark and purge bounds, for the partitions shared with `peer`. */
  private beginFields(run: SessionRun): Record<string, unknown> {
    const { env } = this;
    const shared = run.range.partitions;
    const t = env.topology();
    const bounds = new Map(shared.map((p) => [p, env.purgedBeforeMs(partitionToken(t, p))]));
    return {
      watermarkMs: this.watermark.local(),
      pairStartsMs: this.watermark.pairStarts(),
      // Older nodes read the one bound: the lowest of the shared partitions' holds for all of them.
      purgedBeforeMs: bounds.size === 0 ? env.purgedBeforeMs() : Math.min(...bounds.values()),
      purgeBoundsMs: boundRuns(shared, (p) => bounds.get(p)!),
      // The responder admits a streaming session from a node it shares nothing with yet (responder.ts).
      ...(run.range.receiving === undefined ? {} : { streaming: run.range.partitions }),
      // The source's record counts of the partitions the fast path may copy (stream-session.ts).
      ...(run.copies.length === 0 ? {} : { countsOf: run.copies }),
    };
  }

  private async execute(run: SessionRun, signal: AbortSignal): Promise<SessionHistoryEntry> {
    const { env } = this;
    let result: SessionResult = 'failed';
    let error: string | null = null;
    let begun = false;
    try {
      const begin = decodeJson(
        await env.transport.call(run.peer, {
          route: 'ae/begin',
          body: encodeJson({ id: run.id, ...this.beginFields(run) }),
          timeoutMs: env.limits.requestTimeoutMs,
          signal,
        }),
      ) as {
        watermarkMs?: unknown;
        pairStartsMs?: unknown;
        purgedBeforeMs?: unknown;
        purgeBoundsMs?: unknown;
        streamCounts?: unknown;
      };
      begun = true;
      const counts = begin.streamCounts;
      if (Array.isArray(counts) && counts.length === run.copies.length)
        run.sourceCounts = counts.map((n) =>
          Number.isSafeInteger(n) && n >= 0 ? n : Number.MAX_SAFE_INTEGER,
        );
      this.watermark.heard(run.peer, begin);
      // The peer purged to at least these bounds before answering: do the same, so neither side's purges
      // differ.
      if (typeof begin.purgedBeforeMs === 'number')
        await env.adoptPurgeBound?.(begin.purgedBeforeMs, run.peer, begin);
      await runRounds(env, run, signal);
      result =
        run.counts.keysPulled + run.counts.keysPushed > 0 || run.counts.keysDivergent > 0
          ? 'repaired'
          : 'converged';
    } catch (err) {
      // The peer is busy (its sessionsMax, or its own session with us): no session began, none is recorded.
      if (!begun && refused(err)) throw err;
      result = signal.aborted ? 'cancelled' : 'failed';
      // A cancelled session says why it was cancelled, not how the call in flight failed when it was.
      const cause = signal.aborted ? signal.reason : err;
      error = cause instanceof Error ? cause.message : String(cause);
    }
    const entry = this.entry(run, result, error);
    if (result !== 'failed' && result !== 'cancelled') {
      await env.state.clearCheckpoint(run.peer, run.range.receiving !== undefined);
      await env.transport
        .call(run.peer, {
          route: 'ae/end',
          body: encodeJson({ entry, ...this.watermarkAfter(entry, run.range.receiving !== undefined) }),
          timeoutMs: env.limits.requestTimeoutMs,
        })
        .then((b) => this.watermark.heard(run.peer, (decodeJson(b) ?? {}) as HeardWatermark))
        .catch(logFailure('session end notice'));
    }
    // A failed or cancelled session keeps its checkpoint: the next one resumes where it stopped.
    await env.state.record(entry, env.clock.now());
    this.metrics.sessions.inc({ peer: run.peer, result });
    this.metrics.divergent.inc(run.counts.keysDivergent);
    this.metrics.duration.observe(entry.durationMs / 1000);
    return entry;
  }

  /** Our watermark inputs as they will be once this entry is recorded (so the peer hears fresh values). */
  private watermarkAfter(
    entry: SessionHistoryEntry,
    streaming: boolean,
  ): {
    watermarkMs: number | null;
    pairStartsMs: Record<string, number | null>;
  } {
    // A streaming session is no success of the pair (state.ts): the watermark inputs stay as they are.
    if (streaming) return { watermarkMs: this.watermark.local(), pairStartsMs: this.watermark.pairStarts() };
    const p = this.env.state.peer(entry.peer);
    const before = p.lastSuccessStartedAtMs;
    p.lastSuccessStartedAtMs = Math.max(before ?? 0, Math.min(entry.startedAtMs, this.env.clock.now()));
    const out = { watermarkMs: this.watermark.local(), pairStartsMs: this.watermark.pairStarts() };
    p.lastSuccessStartedAtMs = before;
    return out;
  }

  private entry(run: SessionRun, result: SessionResult, error: string | null): SessionHistoryEntry {
    assertOutcome(run, result, error);
    const endedAtMs = this.env.clock.now();
    return {
      id: run.id,
      peer: run.peer,
      ...describeRange(run.range),
      initiator: this.env.id,
      startedAtMs: run.startedAtMs,
      endedAtMs,
      durationMs: endedAtMs - run.startedAtMs,
      result,
      error,
      resumed: run.resumed,
      ...run.counts,
      ...(run.discovery === undefined ? {} : { discovery: run.discovery }),
      ...(run.range.receiving === undefined ? {} : { streaming: true }),
      ...(run.stream === undefined ? {} : { fastPath: fastPathNote(run.stream) }),
    };
  }

  /**
   * Cancels the session this node runs with `peer` (as its initiator); answers whether one was running. It
   * ends as `cancelled` and keeps its checkpoint, so the next session resumes where it stopped.
   */
  cancel(peer: string, reason: string): boolean {
    const active = this.outgoing.get(peer);
    if (active === undefined || active.cancel.signal.aborted) return false;
    active.cancel.abort(new Error(reason));
    return true;
  }

  /** Cancels every streaming session this node runs as initiator. */
  cancelStreaming(reason: string): void {
    for (const [peer, active] of this.outgoing)
      if (active.run.range.receiving !== undefined) this.cancel(peer, reason);
  }

  progress(peer: string): SessionProgress | null {
    const active = this.outgoing.get(peer);
    if (active === undefined) return null;
    const { run } = active;
    const streaming = run.range.receiving !== undefined;
    const fraction = sessionFraction(run.reconciler.stats.fraction, streaming, run.counts);
    const elapsed = this.env.clock.now() - run.startedAtMs;
    return {
      id: run.id,
      peer,
      ...describeRange(run.range),
      initiator: this.env.id,
      startedAtMs: run.startedAtMs,
      fraction,
      etaMs: fraction > 0.01 && fraction < 1 ? Math.round((elapsed * (1 - fraction)) / fraction) : null,
      phase: run.phase,
      resumed: run.resumed,
      ...run.counts,
    };
  }

  /** Whether `peer` runs a streaming session with this node now (a new owner, not yet a ring peer). */
  streamingFrom(peer: string): boolean {
    return this.incoming.get(peer)?.streaming === true && this.incomingActive(peer);
  }

  acceptIncoming(peer: string, id: string, streaming = false): void {
    // Both sides began at once: the node with the smaller id keeps its session, the other yields.
    if (this.outgoing.has(peer) && this.env.id < peer) {
      throw new ConvergeError('CONFLICT', `${this.env.id} is already running a session with ${peer}`);
    }
    const busy = streaming ? null : this.busyWithOthers(peer);
    if (busy !== null) throw new ConvergeError('CONFLICT', busy);
    this.incoming.set(peer, {
      id,
      leaseUntilMs: this.leaseNow() + 2 * this.env.limits.requestTimeoutMs,
      streaming,
    });
  }

  touchIncoming(peer: string): void {
    const s = this.incoming.get(peer);
    if (s !== undefined) s.leaseUntilMs = this.leaseNow() + 2 * this.env.limits.requestTimeoutMs;
  }

  async finishIncoming(peer: string, entry: SessionHistoryEntry): Promise<void> {
    this.incoming.delete(peer);
    if (
      typeof entry !== 'object' ||
      entry === null ||
      typeof entry.startedAtMs !== 'number' ||
      typeof entry.result !== 'string'
    ) {
      throw new ConvergeError('PROTOCOL_INVALID', 'malformed session entry');
    }
    // The same session seen from this side: what the initiator pulled, we pushed, and the other way round.
    await this.env.state.record(
      {
        ...entry,
        peer,
        keysPulled: entry.keysPushed,
        keysPushed: entry.keysPulled,
        bytesSent: entry.bytesReceived,
        bytesReceived: entry.bytesSent,
      },
      this.env.clock.now(),
    );
  }

  private incomingActive(peer: string): boolean {
    const s = this.incoming.get(peer);
    return s !== undefined && s.leaseUntilMs > this.leaseNow();
  }

  async idle(): Promise<void> {
    await Promise.all(
      [...this.outgoing.values()].map((a) => a.done.catch(logFailure('session awaited at idle', 'debug'))),
    );
  }
}
