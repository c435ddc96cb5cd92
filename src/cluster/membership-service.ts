// A member's membership: the state it has installed (durable in its replica's metadata, loaded on restart),
// the address book, and the spreading of both. Every ping answer and internal request carries the sender's
// `epoch.fingerprint`; a member that sees a later epoch fetches the peer's record and adopts it (only a
// later epoch: two states at one epoch are a fork, refused both ways, see adoptable). A change begins at one
// member, which drives it; every new epoch (the beginning, each step, a cancel, a takeover by another member
// when the driver is gone) is first reserved at a majority of the members (membership-proposals.ts), so a
// second change anywhere is refused with CHANGE_IN_PROGRESS naming the first, and two would-be drivers never
// both install an epoch. The routing view (each partition's write set) is advanced in the LiveTopology the
// node and anti-entropy share.
import { ConvergeError } from '../core/errors.js';
import { logFailure } from '../core/failures.js';
import type { Clock } from '../core/hlc.js';
import { describeChange, type MembershipState } from '../core/membership.js';
import { membershipHeader, shouldAdopt } from '../core/membership-gossip.js';
import { LiveTopology } from '../core/topology-describe.js';
import type { MembershipDriverView, MembershipHandle } from './membership-handle.js';
import {
  agreementsNeeded,
  checkProposal,
  encodeProposal,
  type Proposal,
  type ProposalKind,
  parseProposal,
  type Reservation,
  votersOf,
} from './membership-proposals.js';
import {
  decodeMembershipRecord,
  encodeMembershipRecord,
  formatMembershipHeader,
  type MembershipRecord,
  movedBetween,
  parseMembershipHeader,
  writeSetTopology,
} from './membership-record.js';
import type { InternalRouter, Transport } from './transport.js';

/** The replica metadata name the record is stored under. */
export const membershipMetaName = 'membership';
/** How long a member holds the next epoch for a change being begun elsewhere. */
export const reservationMsDefault = 10_000;

/** The routes members answer each other on (no ring check: a joiner has none yet). */
export const membershipRoutes = {
  state: 'membership/state',
  push: 'membership/push',
  propose: 'membership/propose',
  join: 'membership/join',
} as const;

export interface MembershipServiceOptions {
  readonly self: string;
  /** This node's own base URL, put in the address book. */
  readonly selfUrl?: string;
  readonly meta: {
    getMeta(name: string): Uint8Array | undefined;
    putMeta(name: string, value: Uint8Array): Promise<void>;
  };
  readonly transport: Transport;
  /** The transport's address book: the service adds every member's URL to it. */
  readonly addresses: Map<string, string>;
  /** The membership when nothing is stored (the configured ring, every member normal). */
  readonly initial: MembershipState;
  /** A record received when joining (`serve --join`): kept if later than the stored one. */
  readonly seed?: Uint8Array;
  readonly clock: Clock;
  readonly requestTimeoutMs: number;
  readonly warn?: (line: string) => void;
  readonly reservationMs?: number;
}

export class MembershipService implements MembershipHandle {
  readonly self: string;
  private record: MembershipRecord;
  private headerText: string;
  readonly live: LiveTopology;
  private readonly listeners: Array<(s: MembershipState) => void> = [];
  private readonly epochs = new Map<string, number>();
  private readonly downSet = new Set<string>();
  private readonly fetching = new Set<string>();
  private reservation: Reservation | null = null;
  /** Replicated writes coordinated under an epoch below this one are refused (a partition moved at it). */
  private fenceEpochValue = 0;
  driverView: MembershipDriverView | null = null;
  /**
   * Called before a record is stored, with the state installed and the one about to be: what a change that
   * ends leaves to discard here is stored first (membership-discards.ts), so no restart forgets it.
   */
  beforeStore: ((before: MembershipState, after: MembershipState) => Promise<void>) | null = null;
  /** Installs run one after the other. */
  private installing: Promise<void> = Promise.resolve();

  constructor(private readonly options: MembershipServiceOptions) {
    this.self = options.self;
    const stored = options.meta.getMeta(membershipMetaName);
    let record: MembershipRecord = {
      state: options.initial,
      addresses: new Map(options.addresses),
      driver: null,
    };
    if (stored !== undefined) record = decodeMembershipRecord(stored);
    if (options.seed !== undefined) {
      const seed = decodeMembershipRecord(options.seed);
      if (shouldAdopt(membershipHeader(record.state), membershipHeader(seed.state))) record = seed;
    }
    this.record = withSelf(record, options.self, options.selfUrl);
    // After a restart in the middle of a change, the moves already made fence at the stored epoch.
    if (movedBetween({ ...this.record.state, change: null }, this.record.state) > 0)
      this.fenceEpochValue = this.record.state.epoch;
    this.headerText = headerOf(this.record.state);
    for (const [id, url] of this.record.addresses) if (id !== this.self) options.addresses.set(id, url);
    this.epochs.set(this.self, this.record.state.epoch);
    this.live = new LiveTopology(writeSetTopology(this.record.state));
  }

  /** Stores the record it began with (a restart, a join's seed): called once before the node serves. */
  async persistInitial(): Promise<void> {
    await this.options.meta.putMeta(membershipMetaName, encodeMembershipRecord(this.record));
  }

  current(): MembershipState {
    return this.record.state;
  }

  addressOf(id: string): string | undefined {
    return this.record.addresses.get(id);
  }

  addresses(): ReadonlyMap<string, string> {
    return this.record.addresses;
  }

  driver(): string | null {
    return this.record.driver;
  }

  header(): string {
    return this.headerText;
  }

  fenceEpoch(): number {
    return this.fenceEpochValue;
  }

  installedEpochs(): ReadonlyMap<string, number> {
    return this.epochs;
  }

  down(): ReadonlySet<string> {
    return this.downSet;
  }

  drives(): boolean {
    return this.record.state.change !== null && this.record.driver === this.self;
  }

  onInstalled(listener: (state: MembershipState) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * The driver's step (or a cancel through any member): while a change runs, a majority must first reserve
   * the epoch for this member (membership-proposals.ts), so a member that lost the change to a takeover, or
   * raced a cancel, installs nothing. Stored here, then pushed to every member (pings spread it too).
   */
  async install(next: MembershipState, kind: 'step' | 'cancel' = 'step'): Promise<void> {
    const prev = this.record.state;
    const before = prev.members.map((m) => m.id);
    if (prev.change !== null) await this.propose(kind, prev, next);
    const installed = await this.adopt(
      { ...this.record, state: next, driver: next.change === null ? null : this.self },
      (current) => (prev.change === null ? next.epoch > current.epoch : current === prev),
    );
    if (!installed) {
      throw new ConvergeError(
        'MEMBERSHIP_STALE',
        `membership epoch ${next.epoch} is not above the installed ${this.record.state.epoch}`,
      );
    }
    // A member the step removes (a cancelled joiner) learns it at once too: it has copies to discard.
    this.pushToAll(before);
  }

  /**
   * Stores and installs a record if `accept` still holds once the earlier installs are done (one at a time,
   * so the stored record is always the installed one): the routing view, the address book, the listeners.
   */
  private adopt(record: MembershipRecord, accept: (current: MembershipState) => boolean): Promise<boolean> {
    const run = this.installing.then(async () => {
      const before = this.record.state;
      if (!accept(before)) return false;
      const merged = new Map(this.record.addresses);
      for (const [id, url] of record.addresses) merged.set(id, url);
      const next = withSelf({ ...record, addresses: merged }, this.self, this.options.selfUrl);
      await this.beforeStore?.(before, next.state);
      await this.options.meta.putMeta(membershipMetaName, encodeMembershipRecord(next));
      this.record = next;
      this.headerText = headerOf(next.state);
      this.epochs.set(this.self, next.state.epoch);
      if (movedBetween(before, next.state) > 0) this.fenceEpochValue = next.state.epoch;
      for (const [id, url] of merged) if (id !== this.self) this.options.addresses.set(id, url);
      this.live.advance(writeSetTopology(next.state));
      for (const listener of [...this.listeners]) listener(next.state);
      return true;
    });
    this.installing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  encoded(): Uint8Array {
    return encodeMembershipRecord(this.record);
  }

  /** A peer's header (a ping answer, a request): its installed epoch noted, a later state fetched. */
  observe(peer: string, text: string | undefined): void {
    const header = parseMembershipHeader(text);
    if (header === null) return;
    this.downSet.delete(peer);
    this.epochs.set(peer, header.epoch);
    if (header.epoch <= this.record.state.epoch || this.fetching.has(peer)) return;
    this.fetching.add(peer);
    void this.fetchFrom(peer)
      .catch(logFailure('membership fetch', 'debug'))
      .finally(() => this.fetching.delete(peer));
  }

  onPingFailed(peer: string): void {
    this.downSet.add(peer);
  }

  /** A replica fenced a write of this node's: its membership is later; fetch and install it now. */
  catchUp(peer: string): Promise<void> {
    return this.fetchFrom(peer);
  }

  private async fetchFrom(peer: string): Promise<void> {
    const body = await this.options.transport.call(peer, {
      route: membershipRoutes.state,
      body: new Uint8Array(0),
      timeoutMs: this.options.requestTimeoutMs,
    });
    await this.offer(decodeMembershipRecord(body));
  }

  /** Adopts a record if it comes later in the gossip order than the installed one. */
  offer(record: MembershipRecord): Promise<boolean> {
    return this.adopt(record, (current) => this.adoptable(current, record.state));
  }

  /**
   * Only a later epoch of the same ring shape is adopted. Two states at one epoch are a fork (members started
   * with other --peers, or two changes begun at once despite the reservations): neither side adopts the
   * other's, and requests between them are refused (RING_MISMATCH) until one side moves on.
   */
  private adoptable(current: MembershipState, incoming: MembershipState): boolean {
    if (incoming.epoch <= current.epoch) return false;
    const same =
      incoming.ring.partitions === current.ring.partitions &&
      incoming.ring.replicationFactor === current.ring.replicationFactor;
    if (!same) {
      this.options.warn?.(
        `refusing a membership of ${incoming.ring.partitions} partitions, ` +
          `RF ${incoming.ring.replicationFactor}: ` +
          `this node runs ${current.ring.partitions}, RF ${current.ring.replicationFactor}`,
      );
    }
    return same;
  }

  private pushToAll(also: readonly string[] = []): void {
    const body = this.encoded();
    const ids = new Set([...this.record.state.members.map((m) => m.id), ...also]);
    for (const id of ids) {
      if (id === this.self || !this.options.addresses.has(id)) continue;
      void this.options.transport
        .call(id, { route: membershipRoutes.push, body, timeoutMs: this.options.requestTimeoutMs })
        .catch(logFailure('membership push', 'debug'));
    }
  }

  /**
   * Begins a change made by `make` from the installed state, driven by this member: every reachable member
   * is asked to reserve the next epoch for it first; one that has a change in progress (or reserved for
   * another) refuses with CHANGE_IN_PROGRESS naming it, and a majority of the members must agree.
   */
  async begin(
    make: (s: MembershipState) => MembershipState,
    newAddresses: ReadonlyMap<string, string> = new Map(),
  ): Promise<MembershipState> {
    const before = this.record.state;
    const next = make(before);
    for (const [id, url] of newAddresses) this.options.addresses.set(id, url);
    await this.propose('begin', before, next);
    const addresses = new Map(this.record.addresses);
    for (const [id, url] of newAddresses) addresses.set(id, url);
    const driver = next.change === null ? null : this.self;
    const installed = await this.adopt({ state: next, addresses, driver }, (current) => current === before);
    this.reservation = null;
    if (!installed)
      throw new ConvergeError('MEMBERSHIP_STALE', 'the membership changed while the change was being begun');
    this.pushToAll();
    return next;
  }

  /** A member (this one included) reserves the next epoch for a proposer, or throws why it will not. */
  private reserve(p: Proposal): void {
    const nowMs = this.options.clock.now();
    checkProposal(
      {
        self: this.self,
        state: this.record.state,
        driver: this.record.driver,
        down: this.downSet,
        reservation: this.reservation,
        nowMs,
      },
      p,
    );
    const what = `${p.what} by ${p.driver}`;
    this.reservation = { ...p, what, untilMs: nowMs + (this.options.reservationMs ?? reservationMsDefault) };
  }

  /**
   * Asks every voter of `before` to reserve `next`'s epoch for this member; throws unless a majority did
   * (naming the first refusal, or how many agreed). A `begin` refused anywhere (a change in progress, a
   * member ahead) fails even with a majority: the operator is told about the change that runs.
   */
  private async propose(kind: ProposalKind, before: MembershipState, next: MembershipState): Promise<void> {
    const p: Proposal = {
      kind,
      epoch: next.epoch,
      fingerprint: membershipHeader(next).fingerprint,
      what: kind === 'takeover' || next.change === null ? `${kind} of a change` : describeChange(next.change),
      driver: this.self,
    };
    this.reserve(p);
    const body = encodeProposal(p, this.encoded());
    const voters = votersOf(before).filter((id) => id !== this.self);
    const answers = await Promise.allSettled(
      voters.map((id) =>
        this.options.transport.call(id, {
          route: membershipRoutes.propose,
          body,
          timeoutMs: this.options.requestTimeoutMs,
        }),
      ),
    );
    const refusals = answers.flatMap((a) =>
      a.status === 'rejected' &&
      a.reason instanceof ConvergeError &&
      (a.reason.code === 'CHANGE_IN_PROGRESS' || a.reason.code === 'MEMBERSHIP_STALE')
        ? [a.reason]
        : [],
    );
    const agreed = 1 + answers.filter((a) => a.status === 'fulfilled').length;
    const needed = agreementsNeeded(before);
    if (agreed >= needed && (kind !== 'begin' || refusals.length === 0)) return;
    this.reservation = null;
    if (refusals.length > 0) throw refusals[0]!;
    const failure = answers.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    const why = failure === undefined ? '' : ` (${(failure.reason as Error).message})`;
    throw new ConvergeError(
      'UNAVAILABLE',
      `${agreed} of ${votersOf(before).length} members agreed to ${p.what}; a majority (${needed}) must ` +
        `be reachable to install membership epoch ${p.epoch}${why}`,
    );
  }

  /**
   * This member becomes the driver of the change in progress (its driver unreachable for long): the same
   * state one epoch later, recorded with this member as driver, once a majority reserved that epoch for it.
   * The former driver, should it come back, finds its next step refused (the epoch is taken, and it is no
   * longer the recorded driver) and adopts the later state by gossip. Returns the installed state.
   */
  async takeOver(): Promise<MembershipState> {
    const before = this.record.state;
    if (before.change === null)
      throw new ConvergeError('NO_CHANGE_IN_PROGRESS', 'no membership change is in progress');
    if (this.record.driver === this.self) return before;
    const next: MembershipState = { ...before, epoch: before.epoch + 1 };
    await this.propose('takeover', before, next);
    const record = { ...this.record, state: next, driver: this.self };
    const installed = await this.adopt(record, (current) => current === before);
    this.reservation = null;
    if (!installed)
      throw new ConvergeError('MEMBERSHIP_STALE', 'the membership changed while taking the change over');
    this.options.warn?.(`took over ${describeChange(next.change!)} at epoch ${next.epoch}`);
    this.pushToAll();
    return next;
  }

  /** The internal routes: fetch, push, propose (join is the server's: membership-api.ts). */
  registerRoutes(router: InternalRouter): void {
    router.registerInternal(membershipRoutes.state, async () => this.encoded());
    router.registerInternal(membershipRoutes.push, async (_r, body) => {
      const adopted = await this.offer(decodeMembershipRecord(body));
      return new TextEncoder().encode(JSON.stringify({ adopted, epoch: this.record.state.epoch }));
    });
    router.registerInternal(membershipRoutes.propose, async (_r, body) => {
      const { proposal, record } = parseProposal(body);
      // A member behind the proposer catches up first (the proposal is judged against the same state).
      if (record !== null) await this.offer(decodeMembershipRecord(record));
      this.reserve(proposal);
      return new TextEncoder().encode(JSON.stringify({ reserved: true, epoch: this.record.state.epoch }));
    });
  }
}

function headerOf(s: MembershipState): string {
  const h = membershipHeader(s);
  return formatMembershipHeader(h.epoch, h.fingerprint);
}

function withSelf(r: MembershipRecord, self: string, url: string | undefined): MembershipRecord {
  if (url === undefined || r.addresses.get(self) === url) return r;
  return { ...r, addresses: new Map([...r.addresses, [self, url]]) };
}
