// The background anti-entropy process of one node: a session with every peer on its own jittered timer, one
// session per pair at a time, throttled, pausable, resumable after a crash, with history, previews, the
// tombstone watermark and background digest verification. Requests only feed it; it runs on its own ticks.

import type { Registry } from 'prom-client';
import type { InternalRouter, Transport } from '../cluster/transport.js';
import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { tokenOf } from '../core/hash.js';
import type { Clock } from '../core/hlc.js';
import type { Random } from '../core/random.js';
import type { Timers } from '../core/timers.js';
import type { Topology } from '../core/topology.js';
import type { LiveTopology } from '../core/topology-describe.js';
import type { LocalReplica } from '../replica/replica.js';
import { DigestVerifier } from '../replica/verify.js';
import { writeRefusal } from '../storage/guarded.js';
import { type AdaptiveOptions, AdaptiveRate, type LoadProbe } from './adaptive.js';
import { createAntiEntropyMetrics } from './metrics.js';
import { OperatorActions } from './operator-actions.js';
import { previewRepairs } from './preview.js';
import type { RepairWorkerHandle } from './repair-worker.js';
import { registerResponder } from './responder.js';
import { defaultTopology, peerBounds } from './ring.js';
import { SessionRunner } from './runner.js';
import { type SessionLimits, sessionLimitsDefault } from './session-env.js';
import { AntiEntropyState } from './state.js';
import { TokenBucket, throttleDefault } from './throttle.js';
import type { AntiEntropyStatus, OperatorActionEntry, SessionHistoryEntry, Throttle } from './types.js';
import { Watermark } from './watermark.js';

export interface AntiEntropyOptions {
  /** The node's id and route table: anti-entropy answers its peers on `ae/*` routes. */
  readonly node: InternalRouter;
  readonly replica: LocalReplica;
  readonly transport: Transport;
  /** The configured peers: the ring's members when no topology is given. */
  readonly peers: readonly string[];
  /**
   * The ring: sessions run with the members sharing a partition with this node, over the partitions they
   * share. Absent: this node and its peers, each holding every key (RF = N), as a node without a ring does.
   */
  readonly topology?: LiveTopology;
  readonly clock: Clock;
  /** Times the work of one round (a monotonic high-resolution clock); `clock` when absent. */
  readonly busyNow?: () => number;
  readonly random: Random;
  readonly timers: Timers;
  readonly registry: Registry;
  readonly intervalMs: number;
  readonly enabled: boolean;
  readonly throttle?: Partial<Throttle>;
  readonly limits?: Partial<SessionLimits>;
  /** Covers clock skew and the write timeout between nodes; tombstones younger than this are never purged. */
  readonly tombstoneGraceMs?: number;
  readonly purgeBatchMax?: number;
  readonly verifyRecordsPerSecondMax?: number;
  readonly verifyPassIntervalMs?: number;
  /** The first verification pass after a start waits at least this long (replica/verify.ts). */
  readonly verifyStartDelayMs?: number;
  /**
   * The node's load, for the adaptive repair rate; without it (the simulation) the throttle alone applies.
   */
  readonly loadProbe?: LoadProbe;
  /** loopBusyPercentTarget 0 switches the adaptive rate off. */
  readonly adaptive?: Partial<AdaptiveOptions>;
  /**
   * Repair's bulk work off the event loop: answering the peers' range fetches (a low-priority worker thread),
   * decoding and merging the records this node pulls or is pushed, encoding pushes.
   */
  readonly repairWorker?: RepairWorkerHandle;
  /** A pause or throttle set by hand and in force longer than this shows as a warning in the status. */
  readonly operatorActionWarnAfterMs?: number;
  /**
   * Whether `peer` may run a membership change's streaming session with this node (a new owner that shares
   * no partition with it yet). Absent: the configured peers and the ring's members may.
   */
  readonly admitsStreaming?: (peer: string) => boolean;
  /** The partitions a membership change is streaming to a member (SessionEnv.streamedTo). */
  readonly streamedTo?: (member: string) => ReadonlySet<number>;
}

/** Purge batches run at once when a peer's bound is adopted; the purge tick does any rest. */
const purgeRoundsOnAdoptMax = 10;

export const adaptiveDefault: AdaptiveOptions = {
  loopBusyPercentTarget: 60,
  intervalMs: 200,
  recordsPerSecondMin: 1000,
};

export class AntiEntropyProcess {
  readonly state: AntiEntropyState;
  readonly throttle: TokenBucket;
  readonly runner: SessionRunner;
  readonly watermark: Watermark;
  readonly verifier: DigestVerifier;
  /** Null when off (no probe, or a target of 0). */
  readonly adaptive: AdaptiveRate | null;
  private readonly adaptiveOptions: AdaptiveOptions;
  /** Who paused, resumed, ran or throttled repair by hand, and when (the operator's part of the history). */
  readonly operatorActions: OperatorActions;
  private readonly configuredThrottle: Throttle;
  private readonly abort = new AbortController();
  private readonly nextAt = new Map<string, number>();
  readonly topology: LiveTopology;
  /** The members sharing a partition with this node, re-derived when the ring changes. */
  private peers: readonly string[];
  private loopSignal: AbortSignal | null = null;
  /** Peers whose session loop runs. */
  private readonly looping = new Set<string>();
  private readonly unsubscribeRing: () => void;
  /** Stops the streaming sessions of a cancelled change (and any still waiting their turn). */
  private streamingAbort = new AbortController();
  /** Streaming for a change begun at this epoch or before was cancelled here: refused from now on. */
  private streamingFencedEpoch = -1;

  constructor(private readonly options: AntiEntropyOptions) {
    this.topology =
      options.topology ?? defaultTopology(options.node.id, options.peers, options.replica.digest.leafBits);
    this.peers = this.topology.current.peersOf(options.node.id);
    this.unsubscribeRing = this.topology.subscribe((next) => this.onRing(next));
    this.state = new AntiEntropyState(options.replica);
    this.operatorActions = new OperatorActions(
      options.replica,
      options.clock,
      options.operatorActionWarnAfterMs,
    );
    this.configuredThrottle = { ...throttleDefault, ...options.throttle };
    this.throttle = new TokenBucket(this.configuredThrottle, options.clock, options.timers);
    this.adaptiveOptions = { ...adaptiveDefault, ...options.adaptive };
    this.adaptive =
      options.loadProbe === undefined || this.adaptiveOptions.loopBusyPercentTarget <= 0
        ? null
        : new AdaptiveRate(
            this.throttle,
            options.loadProbe,
            options.clock,
            options.timers,
            this.adaptiveOptions,
          );
    const metrics = createAntiEntropyMetrics(options.registry, () => this.lastSuccessAges());
    this.watermark = new Watermark(
      this.state,
      options.node.id,
      () => this.topology.current,
      options.tombstoneGraceMs ?? 60_000,
    );
    this.runner = this.createRunner(metrics);
    this.verifier = this.createVerifier(metrics);
    const admits =
      options.admitsStreaming ??
      ((peer: string) => options.peers.includes(peer) || this.topology.current.isMember(peer));
    registerResponder(
      options.node,
      options.replica,
      this.runner,
      this.watermark,
      options.repairWorker,
      admits,
    );
    // The replica enforces the bound this process proves, per partition, on every path
    // (LocalReplica.underPurgeBound).
    options.replica.followPurgeBound((token) => this.purgedBeforeMs(token));
    this.gcMetrics = metrics;
  }

  /** The session runner and what its sessions need from this node. */
  private createRunner(metrics: ReturnType<typeof createAntiEntropyMetrics>): SessionRunner {
    const options = this.options;
    return new SessionRunner(
      {
        id: options.node.id,
        replica: options.replica,
        transport: options.transport,
        clock: options.clock,
        ...(options.busyNow === undefined ? {} : { busyNow: options.busyNow }),
        random: options.random,
        timers: options.timers,
        throttle: this.throttle,
        // Its own records rate: the repair rate (50k/s by default, shared by every session) would cap a join.
        streamThrottle: new TokenBucket(
          {
            recordsPerSecondMax:
              options.limits?.streamRecordsPerSecondMax ?? sessionLimitsDefault.streamRecordsPerSecondMax,
            // Its bytes go through the repair throttle. Finite: a rate of Infinity times 0 s is NaN.
            bytesPerSecondMax: Number.MAX_SAFE_INTEGER,
          },
          options.clock,
          options.timers,
        ),
        state: this.state,
        limits: { ...sessionLimitsDefault, ...options.limits },
        metrics: {
          repaired: (d, n, b) => {
            metrics.repaired.inc({ direction: d }, n);
            metrics.bytes.inc({ direction: d }, b);
          },
          notOwned: (n) => metrics.notOwnedDropped.inc(n),
        },
        topology: () => this.topology.current,
        ...(options.streamedTo === undefined ? {} : { streamedTo: options.streamedTo }),
        purgedBeforeMs: (token) =>
          token === undefined ? this.state.purgedBeforeMs : this.purgedBeforeMs(token),
        adoptPurgeBound: (boundMs, peer, msg) => this.adoptPurgeBound(boundMs, peer, msg),
        ...(options.repairWorker === undefined ? {} : { repairWorker: options.repairWorker }),
      },
      metrics,
      this.watermark,
      (peer) => this.peers.includes(peer),
    );
  }

  /** Verification reads storage slowly in the background; it waits while a repair is writing. */
  private createVerifier(metrics: ReturnType<typeof createAntiEntropyMetrics>): DigestVerifier {
    const options = this.options;
    let repairedSeen = options.replica.appliedFrom('anti-entropy');
    return new DigestVerifier({
      replica: options.replica,
      clock: options.clock,
      timers: options.timers,
      recordsPerSecondMax: options.verifyRecordsPerSecondMax ?? 20_000,
      passIntervalMs: options.verifyPassIntervalMs ?? 10 * 60_000,
      ...(options.verifyStartDelayMs === undefined ? {} : { startDelayMs: options.verifyStartDelayMs }),
      onMismatch: (m) => metrics.verificationMismatches.inc({ kind: m.kind }),
      // Repairing: records arrived from anti-entropy since the verifier last looked.
      deferWhile: () => {
        const repaired = options.replica.appliedFrom('anti-entropy');
        const busy = repaired !== repairedSeen;
        repairedSeen = repaired;
        return busy;
      },
    });
  }

  private readonly gcMetrics: ReturnType<typeof createAntiEntropyMetrics>;

  /**
   * The purge bound of the partition a token falls in: writes other than anti-entropy's older than it are
   * refused (they could bring back a value whose tombstone is gone). The replica's guard takes this function.
   */
  purgedBeforeMs(token: Uint8Array): number {
    return this.state.boundOf(this.topology.current.partitionOf(token));
  }

  /** A new ring: the peers are re-derived; a new peer gets its loop, a departed one's loop ends. */
  private onRing(next: Topology): void {
    this.peers = next.peersOf(this.options.node.id);
    const signal = this.loopSignal;
    if (signal === null) return;
    for (const peer of this.peers) if (!this.looping.has(peer)) void this.peerLoop(peer, signal);
  }

  /** Starts the per-peer loops, the purge tick and the verifier; resumes interrupted sessions first. */
  start(shutdown?: AbortSignal): void {
    const signal = this.abort.signal;
    // The service's shutdown signal stops the process like stop() does (the caller may still await stop()).
    shutdown?.addEventListener('abort', () => void this.stop(), { once: true });
    if (!this.options.enabled) return;
    this.loopSignal = signal;
    for (const peer of this.peers) void this.peerLoop(peer, signal);
    void this.gcLoop(signal);
    void this.adaptive?.run(signal);
    void this.options.replica
      .whenDigestReady()
      .then(() => this.verifier.run(signal))
      .catch(logFailure('verification'));
  }

  private async peerLoop(peer: string, signal: AbortSignal): Promise<void> {
    const { timers, clock, random, intervalMs } = this.options;
    this.looping.add(peer);
    await this.options.replica.whenDigestReady();
    // A checkpoint means the last incarnation died mid-session: finish it right away.
    let delayMs = this.state.checkpoint(peer) !== undefined ? 0 : intervalMs * random.next();
    while (!signal.aborted && this.peers.includes(peer)) {
      this.nextAt.set(peer, clock.now() + delayMs);
      await new Promise<void>((resolve) => {
        const onAbort = (): void => {
          cancel();
          resolve();
        };
        const cancel = timers.schedule(delayMs, () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (signal.aborted || !this.peers.includes(peer)) break;
      // A storage refusing writes (a full disk) could not keep what a session repairs: wait for the next
      // turn.
      const storageOk = writeRefusal(this.options.replica.storage) === undefined;
      if (!this.paused && storageOk)
        await this.runner.run(peer, signal).catch(logFailure('anti-entropy session', 'debug'));
      delayMs = intervalMs * (0.75 + 0.5 * random.next());
    }
    this.nextAt.delete(peer);
    this.looping.delete(peer);
  }

  private async gcLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.options.timers.sleep(this.options.intervalMs, signal);
      } catch {
        return;
      }
      // Not while a session runs: both its sides agreed on a purge bound when it began, and a bound raised
      // under it would make this side's purges look like divergence to the other.
      if (this.runner.busy()) continue;
      await this.purgeOnce().catch(logFailure('tombstone purge'));
    }
  }

  /** Purges tombstones their partition's watermark proves every replica of it holds. Returns how many. */
  async purgeOnce(): Promise<number> {
    const capMs = this.options.clock.now() - (this.options.tombstoneGraceMs ?? 60_000);
    const owned = this.topology.current.ownedBy(this.options.node.id);
    // The guard that refuses older records from hints, replication and read repair must hold, durably,
    // before the first tombstone goes: otherwise a hint replayed meanwhile brings the deleted value back.
    if (this.state.raiseBounds(this.watermark.purgeBounds(capMs), owned)) await this.state.saveGc();
    // Also below an unchanged bound: a batch limit or a restart may have left tombstones behind.
    return this.purgeBelowBound();
  }

  /**
   * Raises the purge bounds of the partitions shared with `peer` to the peer's and purges below them. A
   * bound proven by a partition's watermark holds for every replica of it, whichever computed it; both sides
   * of a session then drop the same tombstones before they compare, so equal records give equal digests (a
   * purge is not divergence). A bound past this node's own clock minus the grace cannot come from a
   * watermark and is capped there. Without `msg`, `boundMs` applies to every shared partition.
   */
  async adoptPurgeBound(
    boundMs: number,
    peer?: string,
    msg?: { purgedBeforeMs?: unknown; purgeBoundsMs?: unknown },
  ): Promise<void> {
    const capMs = this.options.clock.now() - (this.options.tombstoneGraceMs ?? 60_000);
    const t = this.topology.current;
    const self = this.options.node.id;
    const shared = peer === undefined ? t.ownedBy(self) : t.sharedPartitions(self, peer);
    const bounds = peerBounds(msg ?? { purgedBeforeMs: boundMs }, shared);
    for (const [p, ms] of bounds) bounds.set(p, Math.min(ms, capMs));
    // Durable before the first tombstone goes, as in purgeOnce.
    if (this.state.raiseBounds(bounds, t.ownedBy(self))) await this.state.saveGc();
    // Also under an unchanged bound: the purge tick may have raised it and not purged yet (an index scan).
    const batchMax = this.options.purgeBatchMax ?? 10_000;
    for (let round = 0; round < purgeRoundsOnAdoptMax; round++) {
      if ((await this.purgeBelowBound()) < batchMax) return;
    }
  }

  /** Below the floor every tombstone goes; above it, up to each partition's own bound (RF < N). */
  private async purgeBelowBound(): Promise<number> {
    const batchMax = this.options.purgeBatchMax ?? 10_000;
    let purged = 0;
    if (this.state.purgedBeforeMs > 0)
      purged += await this.options.replica.purgeTombstones(this.state.purgedBeforeMs, batchMax);
    const above = Object.values(this.state.partitionPurgedBeforeMs);
    if (above.length > 0 && purged < batchMax) {
      const t = this.topology.current;
      purged += await this.options.replica.purgeTombstones(Math.max(...above), batchMax - purged, {
        fromMs: this.state.purgedBeforeMs,
        purgeable: (key, ms) => ms < this.state.boundOf(t.partitionOf(tokenOf(key))),
      });
    }
    if (purged > 0) {
      this.state.tombstonesPurged += purged;
      this.gcMetrics.tombstonesPurged.inc(purged);
      await this.state.saveGc();
    }
    return purged;
  }

  async runNow(peer?: string): Promise<SessionHistoryEntry[]> {
    if (!this.options.enabled)
      throw new ConvergeError('UNAVAILABLE', 'anti-entropy is switched off on this node (--no-anti-entropy)');
    if (peer !== undefined && !this.peers.includes(peer))
      throw new ConvergeError('PEER_UNKNOWN', `no peer named ${peer}`);
    const peers = peer === undefined ? this.peers : [peer];
    await this.options.replica.whenDigestReady();
    const out: SessionHistoryEntry[] = [];
    for (const p of peers) out.push(await this.runner.run(p, this.abort.signal, { wait: true }));
    return out;
  }

  /**
   * Runs a membership change's streaming session with `source` over `partitions` (this node being their new
   * owner): the bulk path, throttled and checkpointed like any session; it waits its turn with that pair (one
   * session per pair) but not for sessionsMax: the driver bounds streaming sessions by its own concurrency.
   * `epoch` is the change's, so a checkpoint resumes while the change runs.
   */
  async runStreaming(
    source: string,
    partitions: readonly number[],
    epoch: number,
  ): Promise<SessionHistoryEntry> {
    if (!this.options.enabled)
      throw new ConvergeError('UNAVAILABLE', 'anti-entropy is switched off on this node (--no-anti-entropy)');
    this.refuseFenced(epoch);
    await this.options.replica.whenDigestReady();
    this.refuseFenced(epoch);
    const signal = this.streamingAbort.signal;
    return this.runner.run(source, signal, { wait: true, streaming: { partitions, epoch } });
  }

  private refuseFenced(epoch: number): void {
    if (epoch <= this.streamingFencedEpoch)
      throw new ConvergeError('CONFLICT', `the membership change of epoch ${epoch} was cancelled`);
  }

  /**
   * Cancels the streaming sessions this node runs or that wait their turn (a cancelled change), and refuses
   * later ones of a change begun at `epoch` or before (a request still on its way); resolves once they ended.
   */
  async cancelStreaming(reason: string, epoch: number): Promise<void> {
    this.streamingFencedEpoch = Math.max(this.streamingFencedEpoch, epoch);
    this.streamingAbort.abort(new ConvergeError('CONFLICT', reason));
    this.streamingAbort = new AbortController();
    this.runner.cancelStreaming(reason);
    await this.runner.idle();
  }

  private get paused(): boolean {
    return this.state.pausedSinceMs !== null;
  }

  /**
   * Cancels the sessions this node is running as initiator (with `peer`, or with every peer); answers the
   * peers whose session was cancelled. The schedule goes on: pause() stops new sessions.
   */
  cancel(peer?: string): string[] {
    if (peer !== undefined && !this.peers.includes(peer))
      throw new ConvergeError('PEER_UNKNOWN', `no peer named ${peer}`);
    const peers = peer === undefined ? this.peers : [peer];
    return peers.filter((p) => this.runner.cancel(p, 'cancelled by an operator'));
  }

  /**
   * Pauses in memory at once, then durably: a restart keeps the pause. A second pause keeps the first time.
   * Rejects (still paused here) when the pause cannot be stored, so the operator knows a restart would lose
   * it.
   */
  async pause(): Promise<void> {
    if (this.state.pausedSinceMs !== null) return;
    this.state.pausedSinceMs = this.options.clock.now();
    await this.state.savePause();
  }

  async resume(): Promise<void> {
    if (this.state.pausedSinceMs === null) return;
    this.state.pausedSinceMs = null;
    await this.state.savePause();
  }

  setThrottle(t: Partial<Throttle>): void {
    for (const [k, v] of Object.entries(t)) {
      if (v !== undefined && (!Number.isFinite(v) || v <= 0))
        throw new ConvergeError('BAD_REQUEST', `${k} must be a positive number`);
    }
    this.throttle.set(t);
  }

  recordOperatorAction(entry: Omit<OperatorActionEntry, 'atMs'>): OperatorActionEntry {
    return this.operatorActions.record(entry);
  }

  preview(peer: string, limit: number) {
    if (!this.peers.includes(peer)) throw new ConvergeError('PEER_UNKNOWN', `no peer named ${peer}`);
    return previewRepairs(this.runner.env, peer, limit);
  }

  status(): AntiEntropyStatus {
    const now = this.options.clock.now();
    return {
      enabled: this.options.enabled,
      paused: this.paused,
      pausedSinceMs: this.state.pausedSinceMs,
      intervalMs: this.options.intervalMs,
      throttle: this.throttle.current,
      adaptive: {
        enabled: this.adaptive !== null,
        loopBusyPercentTarget: this.adaptiveOptions.loopBusyPercentTarget,
        recordsPerSecondMin: this.adaptiveOptions.recordsPerSecondMin,
        loopBusyPercentLast: this.adaptive === null ? null : Math.round(this.adaptive.busyPercentLast),
        recordsPerSecond: this.throttle.recordsPerSecond,
        backOffs: this.adaptive?.backOffs ?? 0,
      },
      serveWorker: {
        running: this.options.repairWorker?.running?.() ?? false,
        nice: this.options.repairWorker?.nice?.() ?? null,
      },
      peers: this.peers.map((peer) => {
        const p = this.state.peer(peer);
        const last = this.state.history.find((h) => h.peer === peer) ?? null;
        return {
          peer,
          shared: this.topology.current.sharedPartitions(this.options.node.id, peer).length,
          running: this.runner.progress(peer),
          last,
          lastSuccessStartedAtMs: p.lastSuccessStartedAtMs,
          lastSuccessAgeSeconds:
            p.lastSuccessEndedAtMs === null ? null : (now - p.lastSuccessEndedAtMs) / 1000,
          nextAtMs: this.options.enabled && !this.paused ? (this.nextAt.get(peer) ?? null) : null,
        };
      }),
      history: this.state.history.slice(0, 50),
      operator: this.operatorActions.describe(this.paused, this.throttle.current, this.configuredThrottle),
      watermark: {
        ...this.watermark.describe(),
        purgeBeforeMs: this.state.purgedBeforeMs || null,
        tombstonesPurged: this.state.tombstonesPurged,
      },
      verification: {
        running: this.verifier.running,
        passes: this.verifier.passes,
        mismatches: this.verifier.mismatches,
        lastPassEndedAtMs: this.verifier.lastPassEndedAtMs,
        nextPassAtMs: this.verifier.nextPassAtMs,
      },
    };
  }

  private lastSuccessAges(): Record<string, number | null> {
    const now = this.options.clock.now();
    const out: Record<string, number | null> = {};
    for (const peer of this.peers) {
      const ended = this.state.peer(peer).lastSuccessEndedAtMs;
      out[peer] = ended === null ? null : (now - ended) / 1000;
    }
    return out;
  }

  async stop(): Promise<void> {
    this.abort.abort(new ConvergeError('UNAVAILABLE', 'anti-entropy stopped'));
    this.streamingAbort.abort(new ConvergeError('UNAVAILABLE', 'anti-entropy stopped'));
    this.unsubscribeRing();
    await this.runner.idle();
    await this.operatorActions.flushed();
  }
}

export function createAntiEntropy(options: AntiEntropyOptions): AntiEntropyProcess {
  return new AntiEntropyProcess(options);
}
