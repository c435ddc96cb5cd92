// What the anti-entropy process reports: the JSON of `GET /antientropy`, the `antiEntropy` part of
// `GET /status`, the CLI's status table and the dashboard all read these shapes.

export type SessionResult = 'converged' | 'repaired' | 'failed' | 'cancelled' | 'aborted-by-restart';

export interface SessionCounts {
  /** Records (keys) whose fingerprints were compared, as far as the protocol can tell. */
  readonly keysCompared: number;
  /** Keys found to differ. */
  readonly keysDivergent: number;
  /** Records written locally (pulled from the peer). */
  readonly keysPulled: number;
  /** Records the peer applied (pushed to it). */
  readonly keysPushed: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly roundTrips: number;
}

export interface SessionProgress extends SessionCounts {
  readonly id: string;
  readonly peer: string;
  /** The session's partitions as text: 'all' when it covers every one (RF = N), else runs ("0-3,9"). */
  readonly range: string;
  /** How many partitions it covers, and which as [first, last] runs (absent from older nodes). */
  readonly partitions?: number;
  readonly ranges?: ReadonlyArray<readonly [number, number]>;
  readonly initiator: string;
  readonly startedAtMs: number;
  /** Rough share of the work done, 0..1, from the digest nodes resolved so far. */
  readonly fraction: number;
  /** Estimated milliseconds to completion, null until there is a rate to go by. */
  readonly etaMs: number | null;
  readonly phase: 'discovering' | 'repairing' | 'done';
  /** True when it continues a session that a restart interrupted. */
  readonly resumed: boolean;
}

/** Which discovery a session used: see docs/anti-entropy.md for when each is taken. */
export interface DiscoveryNote {
  /** symbols: the symbol path decoded it all; symbols-then-tree: it fell back; tree: it was not tried. */
  readonly path: 'symbols' | 'symbols-then-tree' | 'tree';
  readonly reason: string;
  /** Differing items as estimated from the digests and symbols (0: not estimated). */
  readonly estimate: number;
}

/** `converge diff`: what a session with `peer` would repair, over which partitions, found by which path. */
export interface RepairPreview {
  readonly peer: string;
  readonly entries: readonly RepairPreviewEntry[];
  readonly truncated: boolean;
  readonly divergent: number;
  /** The partitions the two share and the preview compared: `all`, or runs such as `1,8,12-13`. */
  readonly range: string;
  readonly partitions: number;
  readonly ranges: ReadonlyArray<readonly [number, number]>;
  /** How the difference was found: the path a session would take. */
  readonly discovery: DiscoveryNote['path'];
}

export interface SessionHistoryEntry extends SessionCounts {
  readonly id: string;
  readonly peer: string;
  /** As in SessionProgress: 'all', or the runs of partitions the session covered. */
  readonly range: string;
  readonly partitions?: number;
  readonly ranges?: ReadonlyArray<readonly [number, number]>;
  readonly initiator: string;
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly durationMs: number;
  readonly result: SessionResult;
  readonly error: string | null;
  readonly resumed: boolean;
  readonly discovery?: DiscoveryNote;
  /**
   * A membership change's streaming session (a new owner catching up on some partitions): it proves nothing
   * of the pair's other shared partitions, so it never counts as the pair's last success (watermark).
   */
  readonly streaming?: boolean;
  /** A streaming session's fast path (stream-session.ts): what it copied, or why the source refused it. */
  readonly fastPath?: FastPathNote;
}

export interface FastPathNote {
  /** Partitions it copied (those the new owner held less than half of, by the source's count). */
  readonly partitions: number;
  readonly pages: number;
  readonly records: number;
  /** Set when the source does not speak the fast path: the session reconciled instead. */
  readonly fallback?: string;
}

export interface PeerAntiEntropyState {
  readonly peer: string;
  /** Partitions this node shares with the peer: what a session between them covers (absent: older nodes). */
  readonly shared?: number;
  readonly running: SessionProgress | null;
  readonly last: SessionHistoryEntry | null;
  /** Start of the last successful session with this peer (local clock), null if none. */
  readonly lastSuccessStartedAtMs: number | null;
  /** Seconds since the last successful session ended, null if none. */
  readonly lastSuccessAgeSeconds: number | null;
  /** Next scheduled session (local clock), null when paused or disabled. */
  readonly nextAtMs: number | null;
}

export interface Throttle {
  readonly recordsPerSecondMax: number;
  readonly bytesPerSecondMax: number;
}

export interface AntiEntropyStatus {
  readonly enabled: boolean;
  readonly paused: boolean;
  /**
   * When the pause began (local clock; it survives a restart), null while running; absent from older nodes.
   */
  readonly pausedSinceMs?: number | null;
  readonly intervalMs: number;
  readonly throttle: Throttle;
  /** The repair rate adapting to the node's load (event-loop utilisation); absent from older nodes. */
  readonly adaptive?: {
    readonly enabled: boolean;
    readonly loopBusyPercentTarget: number;
    readonly recordsPerSecondMin: number;
    /** Share of the last interval the event loop was busy, in percent; null when off. */
    readonly loopBusyPercentLast: number | null;
    /** The records rate in force now: the throttle's, or lower while the node is loaded. */
    readonly recordsPerSecond: number;
    /** Intervals in which repair backed off. */
    readonly backOffs: number;
  };
  /**
   * The worker thread that answers peers' range fetches (docs/anti-entropy.md): running, and the OS priority
   * it runs at (null where it could not be set). Not running: off (--no-ae-serve-worker) or failed, and range
   * fetches are answered on the event loop. Absent from older nodes.
   */
  readonly serveWorker?: { readonly running: boolean; readonly nice: number | null };
  readonly peers: readonly PeerAntiEntropyState[];
  /** Recent sessions, newest first (bounded by historyEntriesMax). */
  readonly history: readonly SessionHistoryEntry[];
  readonly watermark: {
    /** This node: every peer completed a session with it that started at or after this time. */
    readonly localMs: number | null;
    /** The cluster: minimum of every node's local watermark, as last heard. */
    readonly clusterMs: number | null;
    /** Tombstones with versions older than this may be purged (cluster watermark minus the grace). */
    readonly purgeBeforeMs: number | null;
    readonly tombstonesPurged: number;
  };
  /**
   * Who changed the process by hand and when, and warnings for a pause or throttle left in force too long.
   */
  readonly operator?: OperatorView;
  readonly verification: {
    readonly running: boolean;
    readonly passes: number;
    readonly mismatches: number;
    readonly lastPassEndedAtMs: number | null;
    /** When the next pass begins; null while one runs or verification is off. */
    readonly nextPassAtMs: number | null;
  };
}

/** One line of `converge diff`: a key a session would repair, which way and why. */
export interface RepairPreviewEntry {
  readonly key: string;
  readonly direction: 'pull' | 'push';
  readonly reason: string;
  readonly local: string | null;
  readonly remote: string | null;
}

/**
 * One call of an anti-entropy control (run, pause, resume, throttle, …), kept in the history beside sessions.
 */
export interface OperatorActionEntry {
  /** The control: the last segment of its route (`pause`, `throttle`, …). */
  readonly action: string;
  /** The name of the token that called it; null when the node has no client tokens (open). */
  readonly by: string | null;
  readonly atMs: number;
  /** The request's query parameters (`records`, `bytes`, `peer`). */
  readonly params: Readonly<Record<string, string>>;
}

export interface OperatorView {
  /** Recent actions, newest first. */
  readonly actions: readonly OperatorActionEntry[];
  /** While paused: the pause action on record (null fields when the pause came from elsewhere). */
  readonly paused: { readonly by: string | null; readonly atMs: number | null } | null;
  /** While the throttle differs from the node's configured one: who set it and when. */
  readonly throttled: { readonly by: string | null; readonly atMs: number | null } | null;
  /** A pause or throttle in force longer than this shows as a warning (--operator-action-warn-after). */
  readonly warnAfterMs: number;
  /** One line each, e.g. "anti-entropy paused by ops-alice for 2h 5m (since …)". */
  readonly warnings: readonly string[];
}
