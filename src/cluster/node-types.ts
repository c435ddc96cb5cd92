// The surface of one converge node as the HTTP server, the CLI and the simulation see it. The node owns a
// replica, the coordinator (consistency levels), hinted handoff and read repair; anti-entropy plugs in later.

import type { StorageHealth } from '../storage/guarded.js';

export type Consistency = 'one' | 'quorum' | 'all';
export const consistencyLevels: readonly Consistency[] = ['one', 'quorum', 'all'];

export interface PeerConfig {
  readonly id: string;
  /** Base URL, e.g. http://127.0.0.1:7102 */
  readonly url: string;
}

/** What a client read returns: the winning record, or none (never written, or deleted). */
export interface ReadResult {
  readonly found: boolean;
  readonly value: Uint8Array | undefined;
  /** Version of the winning record, as `ms.counter@node`, when there is one (tombstones included). */
  readonly version: string | undefined;
  /** Replicas that answered. */
  readonly replied: readonly string[];
  /** Replicas that were found stale and were sent the winning record (read repair). */
  readonly repaired: readonly string[];
}

export interface WriteResult {
  readonly version: string;
  /** Replicas that acknowledged (persisted) the write, the coordinator's own included. */
  readonly acknowledged: readonly string[];
  /** Replicas that could not be reached in time; a hint was stored for each when hints are on. */
  readonly unreachable: readonly string[];
  readonly hinted: readonly string[];
}

/** One key's result in a batch: its outcome at the batch's consistency level, or why it missed it. */
export type BatchKeyResult =
  | ({ readonly key: string; readonly op: 'put' | 'del'; readonly ok: true } & WriteResult)
  | {
      readonly key: string;
      readonly op: 'put' | 'del';
      readonly ok: false;
      readonly version: string;
      readonly error: {
        readonly code: string;
        readonly message: string;
        readonly details?: Record<string, unknown>;
      };
    };

export interface BatchResult {
  readonly consistency: Consistency;
  /** Keys that met the consistency level, and keys that did not (the replicas that took them keep them). */
  readonly succeeded: number;
  readonly failed: number;
  readonly results: readonly BatchKeyResult[];
}

export interface PeerStatus {
  readonly id: string;
  readonly url: string;
  readonly reachable: boolean;
  /** Milliseconds since the last successful contact, or null if never. */
  readonly lastSeenAgeMs: number | null;
  readonly hintsPending: number;
  /** Partitions both hold, whether their digests are equal (null: cannot tell), and a ring mismatch. */
  readonly ring?: { readonly shared: number; readonly equal: boolean | null; readonly mismatch?: string };
}

/** The node's own part of /status; the server adds anti-entropy's (services/status.ts NodeStatus). */
export interface NodeOwnStatus {
  readonly id: string;
  readonly keys: number;
  readonly digest: { readonly root: string; readonly leafBits: number; readonly ready: boolean };
  readonly peers: readonly PeerStatus[];
  /** The ring: its parameters, the members, and the partitions this node holds as runs [first, last]. */
  readonly ring?: {
    readonly epoch: number;
    readonly partitions: number;
    readonly replicationFactor: number;
    readonly members: readonly string[];
    readonly owned: ReadonlyArray<readonly [number, number]>;
  };
  readonly mechanisms: {
    readonly hints: boolean;
    readonly readRepair: boolean;
    readonly antiEntropy: boolean;
  };
  readonly hints: { readonly pending: number; readonly bytes: number };
  /** Whether the storage takes writes (`failing` on a full disk); null for an engine that does not say. */
  readonly storage?: StorageHealth | null;
  /** This node's clock against its peers' (measured on pings) and records refused for being stamped ahead. */
  readonly clock?: {
    readonly maxDriftMs: number;
    readonly skewed: boolean;
    readonly reason: string | null;
    readonly peers: ReadonlyArray<{
      peer: string;
      offsetMs: number | null;
      rttMs: number | null;
      sampleAgeMs: number;
      off: boolean;
    }>;
    readonly refusedAhead: Readonly<Record<string, number>>;
  };
}

/** A node as the server and CLI use it. Every method throws ConvergeError on a world error. */
export interface NodeApi {
  readonly id: string;
  put(key: string, value: Uint8Array, consistency: Consistency): Promise<WriteResult>;
  del(key: string, consistency: Consistency): Promise<WriteResult>;
  get(key: string, consistency: Consistency): Promise<ReadResult>;
  status(): NodeOwnStatus;
  /** Node-to-node requests (under /internal/): the server passes the route and raw body. */
  handleInternal(route: string, body: Uint8Array, from: string | undefined): Promise<Uint8Array>;
  close(): Promise<void>;
}
