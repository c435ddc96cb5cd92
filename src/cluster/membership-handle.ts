// The seam between a node's membership state (held, stored, spread: membership-service.ts) and the loop that
// drives a change to its end (streaming, verifying, dropping: the membership driver loop). The service
// implements MembershipHandle; the driver loop uses it and answers MembershipDriverView, which the service
// shows in `converge cluster members`.

import type { MembershipState } from '../core/membership.js';
import type { StreamingProgress } from '../core/membership-status.js';

export interface MembershipHandle {
  /** The state this node has installed. */
  current(): MembershipState;
  /** A member's base URL, from the state's address book; undefined for an unknown id. */
  addressOf(id: string): string | undefined;
  /**
   * Installs `next` (its epoch above the current one): stores it durably on this node, then spreads it.
   * Resolves once it is stored here; spreading continues in the background.
   */
  install(next: MembershipState): Promise<void>;
  /** The membership epoch each member last reported installed (this node included); missing: unknown. */
  installedEpochs(): ReadonlyMap<string, number>;
  /** Members this node currently believes down (failed pings). */
  down(): ReadonlySet<string>;
  /** Whether this node drives the change in progress (it began it, or took it over). */
  drives(): boolean;
  /** Called after every install, whether by this node or adopted from a peer. Returns an unsubscribe. */
  onInstalled(listener: (state: MembershipState) => void): () => void;
  /** This node's id (a handle without it never takes a change over). */
  readonly self?: string;
  /** The member recorded as driving the change in progress (null: none). */
  driver?(): string | null;
  /** Makes this node the driver of the change in progress (a majority must agree: the epoch fencing). */
  takeOver?(): Promise<MembershipState>;
}

/** What the driver loop shows of itself; the service folds it into the members' status. */
export interface MembershipDriverView {
  /** Null when no change is streaming or nothing has been measured yet. */
  progress(): StreamingProgress | null;
  /** Partitions that cannot progress now, with why (a new owner down, too few sources up). */
  stalled(): ReadonlyArray<{ readonly partition: number; readonly reason: string }>;
}
