// What one history looks like, drawn from its seed: cluster size, mechanisms, durability policy, the pace of
// the workload and the faults. Every bound the checks rely on (clock skew under the tombstone grace, the
// convergence bound) is stated here, next to the setting it depends on.

import type { HintLimits } from '../cluster/hints.js';
import type { Random } from '../core/random.js';
import { type SyncPolicy, syncPolicies } from '../storage/storage.js';
import type { PlantedBug } from './planted-bugs.js';

export interface SimConfig {
  readonly seed: number;
  readonly nodes: number;
  /**
   * The ring: each key on `replicationFactor` of the nodes, in `partitions` partitions. Most seeds keep
   * every key on every node (RF = N, today's cluster); every tenth runs 4-6 nodes with RF 2 or 3.
   */
  readonly replicationFactor: number;
  readonly partitions: number;
  readonly mechanisms: { readonly hints: boolean; readonly readRepair: boolean };
  /** Repair's bulk work in the anti-entropy worker's stand-in (sim/worker.ts), as nodes run by default. */
  readonly aeWorker: boolean;
  /**
   * Under `none` a power loss may lose acknowledged writes, by design: those histories crash processes only.
   */
  readonly sync: SyncPolicy;
  readonly aeIntervalMs: number;
  readonly aeRequestTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly tickMs: number;
  /** Tombstone grace; the clock skew stays below it, as the operations guide requires. */
  readonly tombstoneGraceMs: number;
  readonly clockSkewMsMax: number;
  /**
   * `--max-clock-drift`: above twice the skew, so versions of in-step clocks are never refused. Clocks that
   * run away jump beyond it by `clockRunawayMsMin` or more, longer than the faults last, so what a node
   * stamped while its clock ran away is still beyond the bound when the heal fixes its clock.
   */
  readonly maxClockDriftMs: number;
  readonly clockRunawayMsMin: number;
  readonly slowDiskMsMax: number;
  /** After a failed commit (a full disk) a node refuses writes this long before it tries one again. */
  readonly storageRetryMs: number;
  readonly hintLimits: HintLimits;
  /** Workload and faults run this long, then the network heals and every node restarts. */
  readonly activeMs: number;
  /** After healing, all digests must be equal within this much virtual time. */
  readonly convergeBoundMs: number;
  /** Then the history runs this much longer (tombstone GC) and must still be converged and correct. */
  readonly settleMs: number;
  /** Hot keys, written often and concurrently. */
  readonly keys: number;
  /** Cold keys, written now and then. */
  readonly coldKeys: number;
  readonly opGapMsMean: number;
  readonly faultGapMsMean: number;
  /** Sessions running longer than this count as stuck. */
  readonly sessionMsMax: number;
  readonly plantedBug: PlantedBug;
  /**
   * A membership change the history runs (sim/membership.ts), or null: the ring stays fixed, as before
   * membership changes. Seeds 7, 17, 27, ... (every tenth) run one.
   */
  readonly membershipChange: MembershipChangePlan | null;
  /** Between a partition's move and its old owners dropping their copies (the driver's cleanup grace). */
  readonly cleanupGraceMs: number;
  /** After the heal, the change must finish (cleanup included) within this much virtual time. */
  readonly changeBoundMs: number;
}

export type SimChangeKind = 'join' | 'decommission' | 'replace';

export interface MembershipChangePlan {
  readonly kind: SimChangeKind;
  /** Virtual time when the operator (or the joining node) asks for it. */
  readonly atMs: number;
  /** Whether a crash, power loss or partition of the streaming node or its source interrupts it. */
  readonly interrupted: boolean;
}

export interface SimOverrides {
  readonly plantedBug?: PlantedBug;
  readonly activeMs?: number;
}

/** Draws a history's configuration from its own random source. */
export function configFor(
  seed: number,
  random: Random & { int(n: number): number },
  overrides: SimOverrides = {},
): SimConfig {
  const aeIntervalMs = 1000;
  const aeRequestTimeoutMs = 3000;
  // Even seeds leave hints and read repair off, so anti-entropy alone must converge the replicas.
  const mechanisms =
    seed % 2 === 0
      ? { hints: false, readRepair: false }
      : { hints: random.next() < 0.7, readRepair: random.next() < 0.7 };
  // Drawn as before on every seed, so the rest of a history's draws stay as they were.
  const fullNodes = 3 + (random.next() < 0.25 ? random.int(3) : 0);
  const ring = ringFor(seed) ?? changeRingFor(seed);
  const config: Omit<SimConfig, 'membershipChange'> = {
    seed,
    nodes: ring?.nodes ?? fullNodes,
    replicationFactor: ring?.replicationFactor ?? fullNodes,
    partitions: ring?.partitions ?? ringPartitionsMin,
    mechanisms,
    // From the seed, not the random source, so the rest of a history's draws stay as they were: seeds 0 and 1
    // modulo 4 use the worker, 2 and 3 the event loop alone.
    aeWorker: Math.floor(seed / 2) % 2 === 0,
    sync: syncPolicies[random.int(syncPolicies.length)]!,
    aeIntervalMs,
    aeRequestTimeoutMs,
    requestTimeoutMs: 1000,
    tickMs: 250,
    tombstoneGraceMs: 2000,
    clockSkewMsMax: 800,
    maxClockDriftMs: 2000,
    clockRunawayMsMin: 30_000,
    slowDiskMsMax: 400,
    storageRetryMs: 300,
    hintLimits: {
      hintsPerPeerMax: 40,
      hintBytesMax: 16 * 1024,
      hintAgeMsMax: 20_000,
      hintReplayBatchMax: 8,
      hintBackoffMsMax: 2000,
    },
    activeMs: overrides.activeMs ?? 12_000 + random.int(12_000),
    // A session stuck on a lost message gives up after its request timeout; every pair then needs a few
    // intervals (jittered up to 1.25x) for a session that starts after the heal and completes.
    convergeBoundMs: aeRequestTimeoutMs + 8 * aeIntervalMs,
    settleMs: 6 * aeIntervalMs,
    keys: 4 + random.int(28),
    coldKeys: 100 + random.int(400),
    opGapMsMean: 20 + random.int(120),
    faultGapMsMean: 600 + random.int(2400),
    sessionMsMax: 20_000,
    plantedBug: overrides.plantedBug ?? 'none',
    cleanupGraceMs: 2000,
    changeBoundMs: 60_000,
  };
  // Drawn last, so the rest of a history's draws stay as they were.
  return { ...config, membershipChange: changePlanFor(seed, random, config.activeMs) };
}

/** Seeds 7, 17, 27, ... run a change: join, decommission and replace in turn. */
function changeKindOf(seed: number): SimChangeKind | undefined {
  if (seed % 10 !== 7) return undefined;
  return (['join', 'decommission', 'replace'] as const)[Math.floor(seed / 10) % 3];
}

/**
 * The ring of a change seed: 3 or 4 members, RF 2 or 3 (a decommission keeps at least RF members; a join
 * or a replace sometimes starts from RF = N), 16 partitions, from the seed alone.
 */
function changeRingFor(
  seed: number,
): { nodes: number; replicationFactor: number; partitions: number } | undefined {
  const kind = changeKindOf(seed);
  if (kind === undefined) return undefined;
  const n = Math.floor(seed / 30);
  const replicationFactor = 2 + (n % 2);
  // Three members at least: a replace leaves a majority of them to agree, a decommission RF of them.
  const nodes =
    kind === 'decommission' || replicationFactor === 2 ? replicationFactor + 1 : 3 + (Math.floor(n / 2) % 2);
  return { nodes, replicationFactor, partitions: ringPartitionsMin };
}

function changePlanFor(
  seed: number,
  random: Random & { int(n: number): number },
  activeMs: number,
): MembershipChangePlan | null {
  const kind = changeKindOf(seed);
  if (kind === undefined) return null;
  return { kind, atMs: 500 + random.int(Math.floor(activeMs / 2)), interrupted: random.next() < 0.6 };
}

/** Partitions of a ring history: 16 or 32 (the digest has 256 leaves; a history holds a few hundred keys). */
const ringPartitionsMin = 16;

/**
 * Seeds 3, 13, 23, ... (every tenth) run a partitioned ring: 4, 5 or 6 nodes, RF 2 or 3, 16 or 32
 * partitions, from the seed alone (so every combination comes round within 120 seeds). The others:
 * undefined (every node holds every key). Every tenth, not more: a ring history has more nodes, and the
 * 300 histories of `npm test` must stay within the test runner's timeout.
 */
function ringFor(seed: number): { nodes: number; replicationFactor: number; partitions: number } | undefined {
  if (seed % 10 !== 3) return undefined;
  const n = Math.floor(seed / 10);
  return {
    nodes: 4 + (n % 3),
    replicationFactor: 2 + (Math.floor(n / 3) % 2),
    partitions: ringPartitionsMin * 2 ** (Math.floor(n / 6) % 2),
  };
}

export function describeConfig(c: SimConfig): string {
  const mech = [
    c.mechanisms.hints ? 'hints' : 'no-hints',
    c.mechanisms.readRepair ? 'read-repair' : 'no-read-repair',
  ];
  if (!c.aeWorker) mech.push('no-ae-worker');
  const ring =
    c.replicationFactor < c.nodes ? ` (RF ${c.replicationFactor}, ${c.partitions} partitions)` : '';
  const change =
    c.membershipChange === null
      ? ''
      : `, a ${c.membershipChange.kind}${c.membershipChange.interrupted ? ' (interrupted)' : ''}`;
  return `${c.nodes} nodes${ring}${change}, ${mech.join(', ')}, sync ${c.sync}, ${c.keys} hot and ${c.coldKeys} cold keys, ${(c.activeMs / 1000).toFixed(1)} s of faults${c.plantedBug === 'none' ? '' : `, planted bug ${c.plantedBug}`}`;
}
