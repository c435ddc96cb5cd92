// The contract between the dashboard plugin, the browser code in web/ and whoever wires them: the JSON the
// dashboard endpoints return and the demo controls the `converge demo` command provides. Types only, so the
// browser bundle can import them without pulling server code.

import type { AntiEntropyStatus } from '../../antientropy/types.js';
import type { MembersView } from '../../cluster/membership-api.js';
import type { NodeStatus } from '../../services/status.js';

export type MechanismName = 'hints' | 'readRepair' | 'antiEntropy';
export const mechanismNames: readonly MechanismName[] = ['hints', 'readRepair', 'antiEntropy'];

/** What the demo knows about the faults it injected; shown as badges on the node cards. */
export interface DemoState {
  /** Nodes cut off from every peer by the transport's fault injection. */
  readonly isolated: readonly string[];
  /** Nodes whose process (server and node) is stopped. */
  readonly stopped: readonly string[];
  readonly scenario: string | null;
}

export interface WriteBurstResult {
  readonly written: number;
  readonly failed: number;
}

/**
 * The scenario controls of `converge demo`, implemented by the demo command over its in-process cluster.
 * Every method throws ConvergeError (NOT_FOUND / PEER_UNKNOWN for an unknown node, CONFLICT when the change
 * makes no sense in the current state) on a world error; the plugin maps it to a JSON error.
 */
export interface DemoControls {
  state(): DemoState;
  /** Cuts every link between `nodeId` and its peers (both directions); the node keeps serving clients. */
  isolate(nodeId: string): Promise<void>;
  /** Removes every injected network fault. Stopped nodes stay stopped. */
  heal(): Promise<void>;
  stop(nodeId: string): Promise<void>;
  start(nodeId: string): Promise<void>;
  /** Writes `count` fresh keys through `nodeId` (the demo picks one when undefined) at consistency `one`. */
  writeBurst(count: number, nodeId: string | undefined): Promise<WriteBurstResult>;
  /** Optional: switch a mechanism on one node (or every node when `nodeId` is undefined) at run time. */
  setMechanism?(nodeId: string | undefined, mechanism: MechanismName, enabled: boolean): Promise<void>;
}

/** A node's `GET /cluster/members`: the membership as it has installed it, and what it dropped itself. */
export interface NodeMembershipView extends MembersView {
  /** Records this node removed because a change moved their partition away (cleanup) or was cancelled. */
  readonly droppedRecords: { readonly cleanup: number; readonly discard: number };
}

/** One node as the serving node sees it: its own status, or a peer's fetched over HTTP. */
export interface ClusterNodeView {
  readonly id: string;
  /** Base URL; null for the serving node itself (the browser already talks to it). */
  readonly url: string | null;
  readonly self: boolean;
  /** The serving node could fetch `/status` within the timeout. */
  readonly reachable: boolean;
  readonly error: string | null;
  readonly latencyMs: number | null;
  readonly status: NodeStatus | null;
  /** null when the node is unreachable or its anti-entropy process is not running. */
  readonly antiEntropy: AntiEntropyStatus | null;
  /** Its `GET /cluster/members`; null when it did not answer it (no membership service, or unreachable). */
  readonly membership?: NodeMembershipView | null;
}

/** One pair of a repair run: a session begun by `a` with `b`. */
export interface RepairRunPair {
  readonly a: string;
  readonly b: string;
  readonly state: 'pending' | 'running' | 'done' | 'failed';
  /** Records the session moved (pulled plus pushed). */
  readonly keysRepaired: number;
  /** The session's result once it ended (`converged`, `repaired`, `failed`, `cancelled`). */
  readonly result: string | null;
  /** Why the pair failed, when it did. */
  readonly error: string | null;
}

/** A repair run across every pair of replicas (`POST /cluster/repair`), as far as it got. */
export interface RepairRunView {
  readonly startedAtMs: number;
  /** null while it runs. */
  readonly endedAtMs: number | null;
  readonly total: number;
  /** Pairs that ended, successfully or not. */
  readonly done: number;
  readonly pairs: readonly RepairRunPair[];
}

/** `GET /cluster`. */
export interface ClusterView {
  readonly self: string;
  readonly nowMs: number;
  /** The latest repair run across all pairs started on this node, or null. */
  readonly repairRun?: RepairRunView | null;
  /** null outside demo mode: the browser hides the scenario controls. */
  readonly demo: (DemoState & { readonly mechanismsSwitchable: boolean }) | null;
  readonly nodes: readonly ClusterNodeView[];
}

/** `GET /digest/level?level=L`: one node's digest at one level of the tree. */
export interface DigestLevelView {
  readonly id: string;
  readonly level: number;
  readonly leafBits: number;
  readonly ready: boolean;
  readonly root: string;
  /** 2^level hashes, 16 hex digits each, concatenated in prefix order. */
  readonly hashes: string;
  /** Records under each prefix. */
  readonly counts: readonly number[];
}

/** `GET /cluster/digest?level=L`: every node's digest level; unreachable nodes carry `error` instead. */
export interface ClusterDigestView {
  readonly level: number;
  readonly nodes: readonly (
    | { readonly id: string; readonly digest: DigestLevelView; readonly error: null }
    | { readonly id: string; readonly digest: null; readonly error: string }
  )[];
}
