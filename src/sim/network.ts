// The simulated network behind the real Transport interface: every request and response is an event with a
// random delay (so messages reorder), and may be lost, duplicated or blocked by a partition. A lost message
// looks to the caller like a real one does: no answer, then TIMEOUT. A node that is down refuses at once
// (UNAVAILABLE), like a closed port. A handler that throws something other than a ConvergeError, or an
// INTERNAL one, is a protocol crash: recorded for the checker, answered with INTERNAL.

import type { Transport, TransportRequest } from '../cluster/transport.js';
import { ConvergeError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import type { Owner, Scheduler } from './scheduler.js';

export interface NetworkConditions {
  /** Probability that one message (request or response) is lost. */
  dropRate: number;
  /** Probability that a request is delivered twice. */
  dupRate: number;
  /** One-way delay range in milliseconds. */
  delayMsMin: number;
  delayMsMax: number;
  /** Probability that a message takes up to `spikeMsMax` longer (a congested link). */
  spikeRate: number;
  spikeMsMax: number;
}

export const calmNetwork: NetworkConditions = {
  dropRate: 0,
  dupRate: 0,
  delayMsMin: 0.1,
  delayMsMax: 2,
  spikeRate: 0,
  spikeMsMax: 0,
};

/** A node's internal routes; `header` is the sender's membership header (x-converge-ring over HTTP). */
export type SimHandler = (
  route: string,
  body: Uint8Array,
  from: string,
  header: string | undefined,
) => Promise<Uint8Array>;

interface Endpoint {
  readonly owner: Owner;
  readonly handler: SimHandler;
}

export interface ProtocolCrash {
  readonly atMs: number;
  readonly node: string;
  readonly route: string;
  readonly error: string;
}

export class SimNetwork {
  conditions: NetworkConditions = { ...calmNetwork };
  readonly crashes: ProtocolCrash[] = [];
  /** Messages of every error that came over the network (lost or refused messages, errors peers answered
   * with), so the checker can tell a session that failed on the network from one that failed on a local bug.
   * */
  readonly networkErrors = new Set<string>();
  readonly counts = { sent: 0, dropped: 0, duplicated: 0, blocked: 0 };
  private readonly endpoints = new Map<string, Endpoint>();
  /** Directed links that lose everything: `from>to`. */
  private readonly blocked = new Set<string>();
  private readonly owner: Owner = { name: 'network', alive: true };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
  ) {}

  register(node: string, owner: Owner, handler: SimHandler): void {
    this.endpoints.set(node, { owner, handler });
  }

  unregister(node: string): void {
    this.endpoints.delete(node);
  }

  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(`${from}>${to}`);
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  healLinks(): void {
    this.blocked.clear();
  }

  blockedLinks(): string[] {
    return [...this.blocked].sort();
  }

  /**
   * The transport one node incarnation uses; its answers stop arriving once the incarnation dies. `header`:
   * the membership header every request carries, as the HTTP transport sends it (none without membership).
   */
  transport(self: string, caller: Owner, header: () => string | undefined = () => undefined): Transport {
    return { call: (peer, request) => this.call(self, caller, peer, request, header()) };
  }

  private call(
    self: string,
    caller: Owner,
    peer: string,
    request: TransportRequest,
    header: string | undefined,
  ): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        cancelTimeout();
        request.signal?.removeEventListener('abort', onAbort);
        outcome();
      };
      const fail = (code: 'TIMEOUT' | 'UNAVAILABLE', message: string): void => {
        this.networkErrors.add(message);
        settle(() => reject(new ConvergeError(code, message)));
      };
      const onAbort = (): void => settle(() => reject(request.signal?.reason));
      if (request.signal?.aborted) {
        reject(request.signal.reason);
        return;
      }
      request.signal?.addEventListener('abort', onAbort, { once: true });
      const cancelTimeout = this.scheduler.schedule(caller, request.timeoutMs, () =>
        fail('TIMEOUT', `${peer} did not answer ${request.route} within ${request.timeoutMs} ms`),
      );
      const target = this.endpoints.get(peer);
      if (target === undefined) {
        this.scheduler.schedule(caller, this.delayMs(), () => fail('UNAVAILABLE', `${peer} is not running`));
        return;
      }
      const answer = (result: { ok: Uint8Array } | { err: ConvergeError }): void => {
        if (!this.passes(peer, self)) return;
        this.scheduler.schedule(caller, this.delayMs(), () =>
          settle(() => ('ok' in result ? resolve(result.ok.slice()) : reject(result.err))),
        );
      };
      this.deliver(self, peer, target, { ...request, header }, answer);
      if (this.random.next() < this.conditions.dupRate) {
        this.counts.duplicated += 1;
        this.deliver(self, peer, target, { ...request, header }, () => {});
      }
    });
  }

  /** Carries one copy of a request to `target` and its answer back through `answer`. */
  private deliver(
    self: string,
    peer: string,
    target: Endpoint,
    request: TransportRequest & { readonly header: string | undefined },
    answer: (result: { ok: Uint8Array } | { err: ConvergeError }) => void,
  ): void {
    this.counts.sent += 1;
    if (!this.passes(self, peer)) return;
    const body = request.body.slice();
    this.scheduler.schedule(this.owner, this.delayMs(), () => {
      // A restarted node is a new process: a message meant for the old one finds no connection.
      if (this.endpoints.get(peer) !== target || !target.owner.alive) return;
      target.handler(request.route, body, self, request.header).then(
        (ok) => {
          if (target.owner.alive) answer({ ok });
        },
        (err: unknown) => {
          if (target.owner.alive) answer({ err: this.asPeerError(peer, request.route, err) });
        },
      );
    });
  }

  /** Decides whether one message gets through: partitions block it, loss drops it. */
  private passes(from: string, to: string): boolean {
    if (this.blocked.has(`${from}>${to}`)) {
      this.counts.blocked += 1;
      return false;
    }
    if (this.random.next() < this.conditions.dropRate) {
      this.counts.dropped += 1;
      return false;
    }
    return true;
  }

  private delayMs(): number {
    const c = this.conditions;
    let ms = c.delayMsMin + this.random.next() * (c.delayMsMax - c.delayMsMin);
    if (c.spikeRate > 0 && this.random.next() < c.spikeRate) ms += this.random.next() * c.spikeMsMax;
    return ms;
  }

  private asPeerError(peer: string, route: string, err: unknown): ConvergeError {
    if (err instanceof ConvergeError && err.code !== 'INTERNAL') {
      this.networkErrors.add(err.message);
      return new ConvergeError(err.code, err.message, err.details);
    }
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.crashes.push({ atMs: this.scheduler.nowMs, node: peer, route, error: text });
    return new ConvergeError('INTERNAL', `${peer} failed on ${route}: ${text}`);
  }
}
