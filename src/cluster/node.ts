// One converge node: the coordinator of client requests, the handler of its peers' internal requests, and
// the owner of its replica and hint store. Clock, randomness, timers and transport are injected, so the same
// node runs in the server and in the deterministic simulation. Background work (hint replay, peer pings)
// runs on the node's own tick; requests only feed it.

import { Counter, Registry } from 'prom-client';
import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import { tokenOf } from '../core/hash.js';
import {
  type Clock,
  HybridLogicalClock,
  isAheadOfClock,
  maxClockDriftMsDefault,
  type Version,
  versionToString,
} from '../core/hlc.js';
import type { Random } from '../core/random.js';
import { keyToBytes, makeRecord, type VersionedRecord } from '../core/record.js';
import type { Timers } from '../core/timers.js';
import type { LiveTopology } from '../core/topology-describe.js';
import { type AheadScan, dropAhead, scanAhead } from '../replica/ahead.js';
import type { LocalReplica } from '../replica/replica.js';
import type { ApplySource } from '../replica/types.js';
import { storageHealth } from '../storage/guarded.js';
import type { BatchOp } from './batch.js';
import { ClockCheck, type ClockView } from './clock-check.js';
import { decodeJson, decodeKey, decodeRecords, encodeJson, encodeOptionalRecord } from './codec.js';
import { coordinateRead, coordinateWrite, coordinateWrites } from './coordinator.js';
import { type HintLimits, HintStore, hintLimitsDefault } from './hints.js';
import { type ClusterMetrics, createClusterMetrics, registerReplicationMetrics } from './metrics.js';
import { type Mechanisms, type NodeContext, type NodeLimits, nodeLimitsDefault } from './node-context.js';
import {
  changeSetsFor,
  checkMembershipRequest,
  followMembership,
  type NodeMembership,
} from './node-membership.js';
import { type NodeRing, nodeRingOf } from './node-ring.js';
import type {
  BatchKeyResult,
  BatchResult,
  Consistency,
  NodeApi,
  NodeOwnStatus,
  PeerConfig,
  ReadResult,
  WriteResult,
} from './node-types.js';
import { ReplicationAdmission } from './replication-admission.js';
import { ReplicationChannel, replicationRoute } from './replication-channel.js';
import {
  AckStatus,
  type AckStatusCode,
  decodeReplicationBatch,
  encodeReplicationAck,
  type ReplicationSource,
} from './replication-codec.js';
import type { InternalHandler, InternalRouter, Transport } from './transport.js';

export interface NodeOptions {
  readonly id: string;
  readonly peers: readonly PeerConfig[];
  readonly replica: LocalReplica;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly timers: Timers;
  readonly limits?: Partial<NodeLimits>;
  readonly mechanisms?: Partial<Mechanisms>;
  readonly hintLimits?: Partial<HintLimits>;
  readonly registry?: Registry;
  /** Period of the node's own tick (hint replay, peer pings). */
  readonly tickMs?: number;
  /** `--max-clock-drift`: versions stamped further ahead of this node's clock are refused on every path. */
  readonly maxClockDriftMs?: number;
  /** A clock that never jumps (performance.now()); measures how the wall clock moved since a ping. */
  readonly monotonicNow?: () => number;
  /** One line for the node's log (refused records); nothing is logged without it. */
  readonly warn?: (line: string) => void;
  /** Defers sending accumulated replication records (replication-channel.ts); a microtask by default. */
  readonly defer?: (fn: () => void) => void;
  /** The ring (who holds which key); without it every member (id + peers) holds every key, P 256. */
  readonly topology?: LiveTopology;
  /**
   * The membership (membership-service.ts): with it the peers follow the installed members, requests carry
   * and are checked by its header instead of the ring's fingerprint, and moving partitions count per group.
   */
  readonly membership?: NodeMembership;
}

/** Refusals of future-stamped records are logged at most this often (each line says how many since). */
const refusalLogIntervalMs = 10_000;

export class ConvergeNode implements NodeApi, InternalRouter {
  readonly id: string;
  readonly ctx: NodeContext;
  readonly registry: Registry;
  readonly hlc: HybridLogicalClock;
  readonly ring: NodeRing;
  private readonly routes = new Map<string, InternalHandler>();
  private readonly seen = new Map<string, { ok: boolean; atMs: number | null }>();
  private readonly abort = new AbortController();
  private closed = false;
  private readonly pinging = new Set<string>();
  readonly clockCheck: ClockCheck;
  /** The first round of pings after start: writes wait for it, so a clock that is off is known before any. */
  private firstPings: Promise<void> | null = null;
  private readonly refusals = { sinceLogged: 0, loggedAtMs: -Infinity };

  constructor(private readonly options: NodeOptions) {
    this.id = options.id;
    this.registry = options.registry ?? new Registry();
    const maxClockDriftMs = options.maxClockDriftMs ?? maxClockDriftMsDefault;
    this.hlc = new HybridLogicalClock(options.id, options.clock, maxClockDriftMs);
    const monotonicNow = options.monotonicNow ?? (() => options.clock.now());
    this.clockCheck = new ClockCheck(options.clock, monotonicNow, maxClockDriftMs);
    const peers = options.peers.filter((p) => p.id !== options.id);
    this.ring = nodeRingOf(this.id, peers, options.replica, options.topology);
    this.ring.membershipMode = options.membership !== undefined;
    const mechanisms: Mechanisms = { ...mechanismsDefault, ...options.mechanisms };
    const limits: NodeLimits = { ...nodeLimitsDefault, ...options.limits };
    const hints = mechanisms.hints
      ? new HintStore(
          options.replica.hintSpace(),
          options.clock,
          options.random,
          { ...hintLimitsDefault, ...options.hintLimits },
          peers.map((p) => p.id),
        )
      : undefined;
    const metrics = nodeMetrics(this.registry, hints, options.replica);
    for (const p of peers) this.seen.set(p.id, { ok: false, atMs: null });
    const refuse = this.refusalReporter();
    options.replica.onRefusedAhead = (r, source, nowMs) => refuse(r.version, r.key, source, nowMs);
    const channels = new Map<string, ReplicationChannel>();
    const admission = new ReplicationAdmission(channels, options.timers, () => limits.admissionWaitMsMax);
    const markSeen = (peer: string, ok: boolean): void => {
      this.seen.set(peer, { ok, atMs: ok ? options.clock.now() : (this.seen.get(peer)?.atMs ?? null) });
      if (ok) channels.get(peer)?.markUp();
    };
    const events = { onRoom: () => admission.onRoom(), onReachable: markSeen };
    for (const p of peers)
      channels.set(p.id, new ReplicationChannel(p.id, options.transport, limits, events, options.defer));
    registerReplicationMetrics(this.registry, replicationGauges(channels, admission, limits));
    this.ctx = {
      id: options.id,
      peers,
      replica: options.replica,
      transport: options.transport,
      hlc: this.hlc,
      limits,
      mechanisms,
      hints,
      metrics,
      timers: options.timers,
      channels,
      admission,
      replicasFor: (key) => this.ring.replicasFor(key),
      ...(options.membership === undefined
        ? {}
        : {
            changeSetsFor: (key: Uint8Array) => changeSetsFor(options.membership!, key),
            catchUpMembership: (peer: string) => options.membership!.catchUp(peer),
          }),
      markSeen,
      refusesAhead: (r) => {
        const nowMs = options.clock.now();
        if (!isAheadOfClock(r.version, nowMs, maxClockDriftMs)) return false;
        refuse(r.version, r.key, 'read', nowMs);
        return true;
      },
    };
    this.registerRoutes();
    this.followMembers(channels, events);
  }

  /** With a membership, the peers follow the installed members: channels, hints and pings. */
  private followMembers(
    channels: Map<string, ReplicationChannel>,
    events: ConstructorParameters<typeof ReplicationChannel>[3],
  ): void {
    const { membership, topology, transport, defer, warn } = this.options;
    if (membership === undefined || topology === undefined) return;
    followMembership(membership, topology, {
      self: this.id,
      peers: this.ctx.peers as PeerConfig[],
      hints: this.ctx.hints,
      addChannel: (id) =>
        channels.set(id, new ReplicationChannel(id, transport, this.ctx.limits, events, defer)),
      removeChannel: (id) => channels.delete(id),
      addSeen: (id) => this.seen.set(id, { ok: false, atMs: null }),
      removeSeen: (id) => this.seen.delete(id),
      ...(warn === undefined ? {} : { warn }),
    });
  }

  /** The internal routes of the write and read paths, and the ping (clock and ring). */
  private registerRoutes(): void {
    this.routes.set('replicate', (_r, body, from) => this.applyFromPeer(body, 'replication', from));
    this.routes.set('hint', (_r, body, from) => this.applyFromPeer(body, 'hint', from));
    this.routes.set('repair', (_r, body, from) => this.applyFromPeer(body, 'read-repair', from));
    this.routes.set(replicationRoute, (_r, body) => this.applyReplicationBatch(body));
    this.routes.set('read', async (_r, body) => encodeOptionalRecord(this.ctx.replica.get(decodeKey(body))));
    this.routes.set('ping', async (_r, _b, from) =>
      encodeJson({
        id: this.id,
        root: this.ctx.replica.digest.rootHex(),
        nowMs: this.options.clock.now(),
        ...this.ring.pingFields(from),
        ...(this.options.membership === undefined ? {} : { membership: this.options.membership.header() }),
      }),
    );
  }

  /** Counts and logs (at most every refusalLogIntervalMs) records refused for being stamped too far ahead. */
  private refusalReporter(): (version: Version, key: Uint8Array, source: string, nowMs: number) => void {
    const refusedAhead = new Counter({
      name: 'converge_clock_ahead_refused_total',
      help: 'Records refused for a version stamped further ahead of this clock than --max-clock-drift, by path',
      labelNames: ['source'],
      registers: [this.registry],
    });
    return (version, key, source, nowMs) => {
      refusedAhead.inc({ source });
      this.logRefusal(version, key, source, nowMs);
    };
  }

  /** Starts the node's own tick. */
  start(): void {
    this.firstPings = this.pingPeers();
    void this.tickLoop();
  }

  /** Refuses to stamp versions while this node's clock is known to be off from its peers'. */
  private async admitWrite(): Promise<void> {
    // A node that was never started does not ping, so it has nothing to check its clock against.
    if (this.firstPings === null) return;
    await this.firstPings;
    const clock = this.clockCheck.view();
    if (clock.skewed)
      throw new ConvergeError('CLOCK_SKEWED', `node ${this.id} does not coordinate writes: ${clock.reason}`);
  }

  private logRefusal(version: Version, key: Uint8Array, source: string, nowMs: number): void {
    this.refusals.sinceLogged += 1;
    const warn = this.options.warn;
    if (warn === undefined || nowMs - this.refusals.loggedAtMs < refusalLogIntervalMs) return;
    const aheadMs = version.ms - nowMs;
    warn(
      `refused ${this.refusals.sinceLogged} record(s) stamped too far ahead of this node's clock; ` +
        `latest: key ${Buffer.from(key).toString('hex')} version ${versionToString(version)}, ` +
        `${aheadMs} ms ahead (by ${source}), ` +
        `over --max-clock-drift ${this.clockCheck.maxDriftMs} ms`,
    );
    this.refusals.sinceLogged = 0;
    this.refusals.loggedAtMs = nowMs;
  }

  /**
   * A client write's record, stamped now. Under its partition's tombstone purge bound it would sort before
   * deletes already purged everywhere, and bring a deleted key back once anti-entropy spread it. Every bound
   * lies at least the tombstone grace behind a reading of this node's own clock, so such a stamp means the
   * clock went back (a restart while no peer could check it): refused as a skewed clock, before anything is
   * applied, as replication and hints are refused under the bound on every other replica.
   */
  private stamp(key: Uint8Array, value: Uint8Array | null): VersionedRecord {
    const record = makeRecord(key, this.hlc.now(), value);
    const boundMs = this.ctx.replica.purgedBeforeMs(tokenOf(key));
    if (record.version.ms < boundMs) {
      throw new ConvergeError(
        'CLOCK_SKEWED',
        `node ${this.id} does not coordinate writes: its clock stamps ${versionToString(record.version)}, ` +
          `${boundMs - record.version.ms} ms behind the tombstone purge bound of the key's partition ` +
          `(${boundMs}); a write stamped there would sort before deletes already purged`,
      );
    }
    return record;
  }

  async put(key: string, value: Uint8Array, consistency: Consistency): Promise<WriteResult> {
    const k = this.validateKey(key);
    if (value.length > this.ctx.limits.valueBytesMax) {
      throw new ConvergeError(
        'VALUE_TOO_LARGE',
        `value of ${value.length} bytes exceeds valueBytesMax ${this.ctx.limits.valueBytesMax}`,
      );
    }
    await this.admitWrite();
    return this.write(this.stamp(k, value), consistency, 'put');
  }

  async del(key: string, consistency: Consistency): Promise<WriteResult> {
    const k = this.validateKey(key);
    await this.admitWrite();
    return this.write(this.stamp(k, null), consistency, 'del');
  }

  /**
   * Writes a batch validated whole by parseBatch (batch.ts): admitted as one (OVERLOADED refuses all of it
   * before anything is applied), then each key reaches its consistency level or fails on its own.
   */
  async batch(ops: readonly BatchOp[], consistency: Consistency): Promise<BatchResult> {
    await this.admitWrite();
    const end = this.ctx.metrics.requestSeconds.startTimer({ op: 'batch' });
    try {
      const records = ops.map((o) => this.stamp(o.keyBytes, o.value));
      const outcomes = await coordinateWrites(this.ctx, records, consistency);
      let succeeded = 0;
      const results = ops.map((o, i): BatchKeyResult => {
        const outcome = outcomes[i]!;
        const version = versionToString(records[i]!.version);
        if (outcome instanceof ConvergeError)
          return { key: o.key, op: o.op, ok: false, version, error: outcome.toJSON().error };
        succeeded += 1;
        return { key: o.key, op: o.op, ok: true, version, ...outcome };
      });
      this.ctx.metrics.writes.inc({ consistency, result: 'ok' }, succeeded);
      this.ctx.metrics.writes.inc({ consistency, result: 'unavailable' }, ops.length - succeeded);
      return { consistency, succeeded, failed: ops.length - succeeded, results };
    } catch (err) {
      this.ctx.metrics.writes.inc({ consistency, result: writeFailure(err) }, ops.length);
      throw err;
    } finally {
      end();
    }
  }

  async get(key: string, consistency: Consistency): Promise<ReadResult> {
    const k = this.validateKey(key);
    const end = this.ctx.metrics.requestSeconds.startTimer({ op: 'get' });
    try {
      const { winner, replied, repaired } = await coordinateRead(this.ctx, k, consistency);
      this.ctx.metrics.reads.inc({ consistency, result: 'ok' });
      const live = winner !== undefined && !winner.tombstone;
      return {
        found: live,
        value: live ? winner.value : undefined,
        version: winner ? versionToString(winner.version) : undefined,
        replied,
        repaired,
      };
    } catch (err) {
      this.ctx.metrics.reads.inc({ consistency, result: 'unavailable' });
      throw err;
    } finally {
      end();
    }
  }

  private async write(record: VersionedRecord, consistency: Consistency, op: string): Promise<WriteResult> {
    const end = this.ctx.metrics.requestSeconds.startTimer({ op });
    try {
      const outcome = await coordinateWrite(this.ctx, record, consistency);
      this.ctx.metrics.writes.inc({ consistency, result: 'ok' });
      return { version: versionToString(record.version), ...outcome };
    } catch (err) {
      this.ctx.metrics.writes.inc({ consistency, result: writeFailure(err) });
      throw err;
    } finally {
      end();
    }
  }

  private validateKey(key: string): Uint8Array {
    if (key.length === 0) throw new ConvergeError('KEY_INVALID', 'the key is empty');
    const bytes = keyToBytes(key);
    if (bytes.length > this.ctx.limits.keyBytesMax) {
      throw new ConvergeError(
        'KEY_TOO_LONG',
        `key of ${bytes.length} bytes exceeds keyBytesMax ${this.ctx.limits.keyBytesMax}`,
      );
    }
    return bytes;
  }

  private async applyFromPeer(body: Uint8Array, source: ApplySource, from?: string): Promise<Uint8Array> {
    const records = decodeRecords(body, this.ctx.limits.valueBytesMax);
    for (const r of records) {
      if (r.key.length > this.ctx.limits.keyBytesMax)
        throw new ConvergeError('KEY_TOO_LONG', `key of ${r.key.length} bytes exceeds keyBytesMax`);
    }
    this.ring.refuseNotOwned(records, source, from);
    // The replica refuses what lies under the purge bound; the clock observes only what it may keep.
    for (const r of records) if (!this.ctx.replica.underPurgeBound(r, source)) this.hlc.observe(r.version);
    const { purged = 0, heldAhead, ...result } = await this.ctx.replica.apply(records, source);
    if (heldAhead !== undefined || this.clockCheck.view().skewed) {
      // Not an acknowledgement either: the version that hid them is removed once the clock is fixed.
      throw new ConvergeError(
        'CLOCK_AHEAD',
        heldAhead === undefined
          ? `${this.id}'s clock is off from its peers' by more than --max-clock-drift: it acknowledges no ` +
              'write until it is fixed (the records were applied)'
          : `${heldAhead.size} of ${records.length} records lost to versions ${this.id} stamped more than ` +
              '--max-clock-drift ahead of its clock; not kept (the others were applied)',
        { refused: heldAhead?.size ?? records.length, applied: result.applied },
      );
    }
    if (result.refusedAhead !== undefined) {
      // Not an acknowledgement: the sender must not count this replica as holding the refused records.
      throw new ConvergeError(
        'CLOCK_AHEAD',
        `${result.refusedAhead} of ${records.length} records are stamped more than --max-clock-drift ` +
          `${this.clockCheck.maxDriftMs} ms ahead of ${this.id}'s clock; refused (the others were applied)`,
        { refused: result.refusedAhead, applied: result.applied },
      );
    }
    return encodeJson({ ...result, ignored: result.ignored - purged, refused: purged });
  }

  /**
   * A coalesced replication message: decoded and checked whole (one bad record refuses the message before any
   * record is applied), applied by source in one turn (so one storage commit takes them all), answered once
   * the replica has persisted them, with one status per record.
   */
  private async applyReplicationBatch(body: Uint8Array): Promise<Uint8Array> {
    const entries = decodeReplicationBatch(body, this.ctx.limits.valueBytesMax);
    for (const { record } of entries) {
      if (record.key.length > this.ctx.limits.keyBytesMax) {
        throw new ConvergeError(
          'KEY_TOO_LONG',
          `key of ${record.key.length} bytes exceeds keyBytesMax ${this.ctx.limits.keyBytesMax}`,
        );
      }
    }
    const statuses: AckStatusCode[] = new Array(entries.length).fill(AckStatus.persisted);
    const bySource = new Map<ReplicationSource, VersionedRecord[]>();
    const nowMs = this.options.clock.now();
    for (const [i, { record, source }] of entries.entries()) {
      // A record of a partition this node does not hold is refused alone (no hint is kept for a refusal), and
      // one under the purge bound too (the replica, which owns the rule, would not write it).
      if (!this.ring.holdsKey(record.key) || this.ctx.replica.underPurgeBound(record, source)) {
        statuses[i] = AckStatus.refused;
        continue;
      }
      // Stamped beyond --max-clock-drift: refused, never an acknowledgement. It still goes to the replica,
      // which refuses it again, counts it and logs it with the others of its path.
      if (isAheadOfClock(record.version, nowMs, this.clockCheck.maxDriftMs)) statuses[i] = AckStatus.refused;
      else this.hlc.observe(record.version);
      const group = bySource.get(source) ?? [];
      group.push(record);
      bySource.set(source, group);
    }
    const results = await Promise.all(
      [...bySource].map(([source, records]) => this.ctx.replica.apply(records, source)),
    );
    // A record that lost only to a version stamped ahead of this node's clock is not kept once that version
    // is removed (the operator's procedure for a clock that ran away): refused, never acknowledged.
    const heldAhead = results.flatMap((r) => (r.heldAhead === undefined ? [] : [...r.heldAhead]));
    if (heldAhead.length > 0) {
      const refused = new Set(heldAhead);
      for (const [i, { record }] of entries.entries())
        if (refused.has(record)) statuses[i] = AckStatus.refused;
    }
    // While this node's clock is off from most of its peers', what it stamped ahead does not look ahead to
    // it: it keeps what it receives but acknowledges none of it, as it coordinates none.
    if (this.clockCheck.view().skewed) statuses.fill(AckStatus.refused);
    return encodeReplicationAck(statuses);
  }

  registerInternal(route: string, handler: InternalHandler): void {
    this.routes.set(route, handler);
  }

  /** `ring`: the sender's ring fingerprint (the x-converge-ring header); a different one is refused. */
  async handleInternal(
    route: string,
    body: Uint8Array,
    from: string | undefined,
    ring?: string,
  ): Promise<Uint8Array> {
    if (this.closed) throw new ConvergeError('UNAVAILABLE', `node ${this.id} is shutting down`);
    const handler = this.routes.get(route);
    if (handler === undefined) throw new ConvergeError('NOT_FOUND', `no internal route ${route}`);
    if (this.options.membership === undefined) this.ring.checkRequest(route, from, ring);
    else checkMembershipRequest(this.options.membership, this.id, route, from, ring);
    // A request from a peer shows it is up and sends, not that it answers: its replication channel is marked
    // up again only by an answer from it (a message's or a ping's), or a peer that sends but never answers
    // would flap between down and up and hold admission each time.
    // A peer running another ring stays refused (unreachable) whatever it sends.
    if (from !== undefined && this.seen.has(from) && this.ring.mismatchOf(from) === undefined)
      this.seen.set(from, { ok: true, atMs: this.options.clock.now() });
    return handler(route, body, from);
  }

  status(): NodeOwnStatus {
    const now = this.options.clock.now();
    const replica = this.ctx.replica;
    return {
      id: this.id,
      keys: replica.digest.count(),
      digest: {
        root: replica.digest.rootHex(),
        leafBits: replica.digest.leafBits,
        ready: replica.digestReady,
      },
      peers: this.ctx.peers.map((p) => {
        const s = this.seen.get(p.id);
        return {
          id: p.id,
          url: p.url,
          reachable: s?.ok ?? false,
          lastSeenAgeMs: s?.atMs == null ? null : now - s.atMs,
          hintsPending: this.ctx.hints?.pending(p.id) ?? 0,
          ring: this.ring.peerStatus(p.id),
        };
      }),
      ring: this.ring.status(),
      mechanisms: { ...this.ctx.mechanisms },
      hints: { pending: this.ctx.hints?.pending() ?? 0, bytes: this.ctx.hints?.bytes() ?? 0 },
      storage: storageHealth(replica.storage),
      clock: this.clockStatus(),
    };
  }

  /** Records of this replica stamped more than `minAheadMs` ahead of this clock (the operator's listing). */
  findAhead(minAheadMs: number, limit: number): Promise<AheadScan> {
    const yieldNow = (): Promise<void> => this.options.timers.sleep(0);
    return scanAhead(this.ctx.replica, this.options.clock.now(), minAheadMs, limit, yieldNow);
  }

  /** Removes this replica's copies of them (no tombstone: anti-entropy brings back the peers' versions). */
  dropAhead(minAheadMs: number, limit: number): Promise<AheadScan & { dropped: number }> {
    const yieldNow = (): Promise<void> => this.options.timers.sleep(0);
    return dropAhead(this.ctx.replica, this.options.clock.now(), minAheadMs, limit, yieldNow);
  }

  clockStatus(): ClockView & { refusedAhead: Record<string, number> } {
    return { ...this.clockCheck.view(), refusedAhead: this.ctx.replica.refusedAheadCounts() };
  }

  private async tickLoop(): Promise<void> {
    const signal = this.abort.signal;
    const tickMs = this.options.tickMs ?? 500;
    while (!signal.aborted) {
      try {
        await this.options.timers.sleep(tickMs, signal);
      } catch {
        return;
      }
      // Pings run beside the tick: a peer that does not answer must not hold up hint replay to the others.
      void this.pingPeers();
      if (signal.aborted) return;
      if (this.ctx.mechanisms.hints) await this.replayHints();
    }
  }

  /** Hints ride the replication channels, so their records share messages (and queue bounds) with writes. */
  private async replayHints(): Promise<void> {
    const deliver = (peer: string, records: readonly VersionedRecord[]): Promise<number> => {
      const channel = this.ctx.channels.get(peer);
      if (channel === undefined)
        return Promise.reject(new ConvergeError('PEER_UNKNOWN', `no peer named ${peer}`));
      return channel.sendAll(records, 'hint');
    };
    await this.ctx.hints
      ?.replayDue(deliver, this.ctx.limits.valueBytesMax)
      .catch(logFailure('hint replay', 'debug'));
  }

  /**
   * One ping per peer at a time (a peer whose ping is still out is skipped this round); resolves when this
   * round's pings have answered or failed. Each answer carries the peer's clock for the clock check.
   */
  private async pingPeers(): Promise<void> {
    const round = this.ctx.peers.filter((p) => !this.pinging.has(p.id));
    await Promise.all(
      round.map((p) => {
        this.pinging.add(p.id);
        const sent = this.clockCheck.begin();
        return this.ctx.transport
          .call(p.id, {
            route: 'ping',
            body: new Uint8Array(0),
            timeoutMs: this.ctx.limits.requestTimeoutMs,
            signal: this.abort.signal,
          })
          .then(
            (body) => this.onPingAnswer(p.id, sent, decodeJson(body)),
            (err: unknown) => {
              this.ctx.markSeen(p.id, false);
              this.ring.onPingFailed(p.id);
              this.options.membership?.onPingFailed(p.id);
              // Cluster authentication refuses a request whose timestamp is outside its window
              // (server/auth/cluster-auth.ts): the peer's clock and this one are that far apart.
              const auth = err instanceof ConvergeError && err.code === 'UNAUTHORIZED';
              if (auth && /clock skew/.test(err.message)) this.clockCheck.refused(p.id);
            },
          )
          .finally(() => this.pinging.delete(p.id));
      }),
    );
  }

  /** A peer whose ring differs is refused (it is not counted as reachable), and said so once in the log. */
  private onPingAnswer(peer: string, sent: ReturnType<ClockCheck['begin']>, body: unknown): void {
    const answer = body as { nowMs?: unknown; ring?: unknown; shared?: unknown; membership?: unknown } | null;
    if (typeof answer?.membership === 'string') this.options.membership?.observe(peer, answer.membership);
    const mismatch = this.ring.onPingAnswer(peer, answer);
    if (mismatch !== null) this.options.warn?.(`refusing peer ${peer}: ${mismatch}`);
    if (this.ring.mismatchOf(peer) !== undefined) {
      this.ctx.markSeen(peer, false);
      return;
    }
    this.ctx.markSeen(peer, true);
    if (typeof answer?.nowMs === 'number') this.clockCheck.record(peer, sent, answer.nowMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new ConvergeError('UNAVAILABLE', 'node closed'));
    await this.ctx.replica.flush();
  }
}

const mechanismsDefault: Mechanisms = { hints: true, readRepair: true, antiEntropy: true };

function nodeMetrics(
  registry: Registry,
  hints: HintStore | undefined,
  replica: LocalReplica,
): ClusterMetrics {
  return createClusterMetrics(registry, {
    hintsPending: () => hints?.pending() ?? 0,
    hintBytes: () => hints?.bytes() ?? 0,
    hintsDropped: () => hints?.counters.dropped ?? {},
    hintsReplayed: () => hints?.counters.replayed ?? 0,
    keys: () => replica.digest.count(),
  });
}

function writeFailure(err: unknown): string {
  return err instanceof ConvergeError && err.code === 'OVERLOADED' ? 'overloaded' : 'unavailable';
}

function replicationGauges(
  channels: ReadonlyMap<string, ReplicationChannel>,
  admission: ReplicationAdmission,
  limits: NodeLimits,
) {
  return {
    channels: () =>
      [...channels.values()].map((c) => ({
        peer: c.peer,
        records: c.pendingRecords,
        bytes: c.pendingBytes,
        messages: c.counters.messages,
        sent: c.counters.records,
        failed: c.counters.failedMessages,
        down: c.down,
      })),
    limits: () => ({ records: limits.replicationQueueRecordsMax, bytes: limits.replicationQueueBytesMax }),
    admission: () => ({
      waiting: admission.waiting(),
      atOnce: admission.counters.admittedAtOnce,
      afterWait: admission.counters.admittedAfterWait,
      overloaded: admission.counters.overloaded,
    }),
  };
}

export function createNode(options: NodeOptions): ConvergeNode {
  return new ConvergeNode(options);
}
