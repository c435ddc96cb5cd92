// Coalesced replication to one peer: records queue here and travel in binary messages of many records. While
// `messagesInFlightMax` messages are out, the next one accumulates (the network's group commit), bounded in
// records and bytes. A record is acknowledged only when the message that carried it is answered, and the peer
// answers only once its replica has persisted the records. The queue itself is bounded (records and bytes,
// in flight included); the admission queue (replication-admission.ts) makes writers wait for room.

import { ConvergeError } from '../core/errors.js';
import type { VersionedRecord } from '../core/record.js';
import {
  AckStatus,
  decodeReplicationAck,
  encodeReplicationBatch,
  entryBytes,
  type ReplicationEntry,
  type ReplicationSource,
} from './replication-codec.js';
import type { Transport } from './transport.js';

export const replicationRoute = 'replicate/batch';

export interface ChannelLimits {
  /** Records queued or in flight to one peer, not yet acknowledged. */
  readonly replicationQueueRecordsMax: number;
  /** Bytes of those records (estimated with entryBytes). */
  readonly replicationQueueBytesMax: number;
  readonly replicationMessageRecordsMax: number;
  readonly replicationMessageBytesMax: number;
  readonly replicationMessagesInFlightMax: number;
  readonly requestTimeoutMs: number;
}

/** Called once per record: undefined when the peer persisted it, else why it was not. */
export type RecordDone = (error: ConvergeError | undefined) => void;

interface Item {
  readonly entry: ReplicationEntry;
  readonly bytes: number;
  readonly done: RecordDone;
}

export interface ChannelCounters {
  messages: number;
  records: number;
  failedMessages: number;
  /** Records whose message failed, by the failure's code (a scenario tells injected loss from timeouts). */
  failedRecords: Record<string, number>;
}

export class ReplicationChannel {
  /** Waiting to be sent; `head` is the first unsent index (shifting a long array per message is O(n)). */
  private queue: Item[] = [];
  private head = 0;
  private inFlight = 0;
  private pumpScheduled = false;
  /** Records and bytes queued or in flight: what the bounds limit. */
  pendingRecords = 0;
  pendingBytes = 0;
  /** Set when a message timed out or the peer was unreachable; cleared when the peer is seen again. */
  down = false;
  readonly counters: ChannelCounters = { messages: 0, records: 0, failedMessages: 0, failedRecords: {} };

  constructor(
    readonly peer: string,
    private readonly transport: Transport,
    private readonly limits: ChannelLimits,
    /** Told when records leave the queue (admission re-checks) and of the peer's reachability. */
    private readonly events: { onRoom(): void; onReachable(peer: string, ok: boolean): void },
    /**
     * When to send what accumulated: the server defers to setImmediate, so every request read in one turn of
     * the event loop shares a message; the default (a microtask) keeps the simulation deterministic.
     */
    private readonly defer: (fn: () => void) => void = queueMicrotask,
  ) {}

  /** Whether `records` more records of `bytes` fit; an empty queue takes anything (a large batch passes). */
  hasRoom(records: number, bytes: number): boolean {
    if (this.pendingRecords === 0) return true;
    return (
      this.pendingRecords + records <= this.limits.replicationQueueRecordsMax &&
      this.pendingBytes + bytes <= this.limits.replicationQueueBytesMax
    );
  }

  /** Queues a record; `done` runs later (never synchronously), once. A down peer fails it at once. */
  enqueue(record: VersionedRecord, source: ReplicationSource, done: RecordDone): void {
    if (this.down) {
      queueMicrotask(() =>
        done(new ConvergeError('UNAVAILABLE', `${this.peer} is unreachable (its last message timed out)`)),
      );
      return;
    }
    const bytes = entryBytes(record);
    this.queue.push({ entry: { record, source }, bytes, done });
    this.pendingRecords += 1;
    this.pendingBytes += bytes;
    this.schedulePump();
  }

  /**
   * Queues records and resolves, once the peer has answered for every one, with the number it refused (its
   * admission rules: sending those again would be refused again); rejects with the first other failure.
   */
  sendAll(records: readonly VersionedRecord[], source: ReplicationSource): Promise<number> {
    return new Promise((resolve, reject) => {
      let left = records.length;
      let refused = 0;
      let failed = false;
      if (left === 0) resolve(0);
      for (const r of records) {
        this.enqueue(r, source, (err) => {
          if (failed) return;
          if (err !== undefined && err.code !== 'CONFLICT') {
            failed = true;
            reject(err);
            return;
          }
          if (err !== undefined) refused += 1;
          if (--left === 0) resolve(refused);
        });
      }
    });
  }

  /** The peer answered something (a ping, a request): it may take messages again. */
  markUp(): void {
    this.down = false;
  }

  queuedRecords(): number {
    return this.queue.length - this.head;
  }

  /** Records queued in one turn (a batch, a burst of requests) leave in one message: pump after the turn. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.defer(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.limits.replicationMessagesInFlightMax && this.head < this.queue.length) {
      this.send(this.take());
    }
  }

  /** The next message: whole records up to the message bounds, at least one. */
  private take(): Item[] {
    const items: Item[] = [];
    let bytes = 0;
    while (this.head < this.queue.length && items.length < this.limits.replicationMessageRecordsMax) {
      const item = this.queue[this.head]!;
      if (items.length > 0 && bytes + item.bytes > this.limits.replicationMessageBytesMax) break;
      items.push(item);
      bytes += item.bytes;
      this.head += 1;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return items;
  }

  private send(items: Item[]): void {
    this.inFlight += 1;
    this.counters.messages += 1;
    this.counters.records += items.length;
    let body: Uint8Array;
    try {
      body = encodeReplicationBatch(
        items.map((i) => i.entry),
        64 + items.reduce((n, i) => n + i.bytes, 0),
      );
    } catch (err) {
      this.finish(items, undefined, err);
      return;
    }
    this.transport
      .call(this.peer, { route: replicationRoute, body, timeoutMs: this.limits.requestTimeoutMs })
      .then(
        (answer) => this.finish(items, answer, undefined),
        (err: unknown) => this.finish(items, undefined, err),
      );
  }

  private finish(items: Item[], answer: Uint8Array | undefined, err: unknown): void {
    this.inFlight -= 1;
    for (const item of items) {
      this.pendingRecords -= 1;
      this.pendingBytes -= item.bytes;
    }
    let statuses: number[] | undefined;
    let failure = err === undefined ? undefined : asConvergeError(err, this.peer);
    if (failure === undefined && answer !== undefined) {
      try {
        statuses = decodeReplicationAck(answer, items.length);
      } catch (e) {
        failure = asConvergeError(e, this.peer);
      }
    }
    if (failure !== undefined) {
      this.countFailed(failure, items.length);
      this.fail(failure);
    } else this.events.onReachable(this.peer, true);
    for (const [i, item] of items.entries()) {
      if (failure !== undefined) item.done(failure);
      else if (statuses?.[i] === AckStatus.persisted) item.done(undefined);
      else item.done(new ConvergeError('CONFLICT', `${this.peer} refused the record (its admission rules)`));
    }
    this.events.onRoom();
    this.pump();
  }

  /**
   * A message failed. A peer that did not answer in time is taken as down: what is queued fails now (hints
   * take it) rather than waiting a timeout per message, and new records fail at once until it is seen again.
   * A peer that refused the connection fails each message at once anyway, and one lost message must not
   * cost the records behind it: those stay queued. A peer that answered with an error stays up.
   */
  private fail(failure: ConvergeError): void {
    this.counters.failedMessages += 1;
    if (failure.code === 'UNAVAILABLE') this.events.onReachable(this.peer, false);
    if (failure.code !== 'TIMEOUT') return;
    this.down = true;
    this.events.onReachable(this.peer, false);
    const dropped = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    for (const item of dropped) {
      this.pendingRecords -= 1;
      this.pendingBytes -= item.bytes;
    }
    this.countFailed(failure, dropped.length);
    for (const item of dropped) item.done(failure);
  }

  private countFailed(failure: ConvergeError, records: number): void {
    const byCode = this.counters.failedRecords;
    byCode[failure.code] = (byCode[failure.code] ?? 0) + records;
  }
}

function asConvergeError(err: unknown, peer: string): ConvergeError {
  if (err instanceof ConvergeError) return err;
  return new ConvergeError(
    'UNAVAILABLE',
    `replication to ${peer} failed: ${(err as Error)?.message ?? String(err)}`,
  );
}
