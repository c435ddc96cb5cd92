// How the driver loop carries out the core's actions over the members' internal routes (membership-routes.ts):
// streaming sessions grouped per (new owner, source) pair and run a bounded number at a time, the partition
// digests measured on every owner afterwards (the evidence of a step), and the drops of old or partial copies.

import type { Logger } from '../core/failures.js';
import type { MembershipState, PartitionMove } from '../core/membership.js';
import type { DriverReport } from '../core/membership-driver.js';
import { liveSources, ownersToVerify } from '../core/membership-moves.js';
import { decodeJson, encodeJson } from './codec.js';
import type { StreamingMeter } from './membership-driver-progress.js';
import { type DropReason, membershipRoutes, type StreamAnswer } from './membership-routes.js';

export interface MembershipDriverSettings {
  /** Between a partition's move and its old owners dropping their copy. */
  readonly cleanupGraceMs: number;
  /** Streaming sessions (one per new owner and source) the driver keeps running at once. */
  readonly streamingConcurrency: number;
  /** How often the driver plans again (cleanups fall due, epochs spread, stalls clear). */
  readonly tickMs: number;
  /** Partitions one streaming session covers at most (a pair with more runs several). */
  readonly partitionsPerSessionMax: number;
  /** One streaming session may take this long before the driver stops waiting (the session goes on). */
  readonly streamTimeoutMs: number;
  /** A digest measurement, a drop or a hint drop on one member. */
  readonly requestTimeoutMs: number;
  /** How long the driver of a change is unreachable before another member takes the change over. */
  readonly takeoverAfterMs: number;
}

export type MemberCall = (
  member: string,
  route: string,
  body: Uint8Array,
  timeoutMs: number,
  signal?: AbortSignal,
) => Promise<Uint8Array>;

export interface ActionEnv {
  readonly call: MemberCall;
  readonly settings: MembershipDriverSettings;
  readonly down: ReadonlySet<string>;
  /** Members down for at least the takeover limit (taken for dead: their cleanup is theirs to do later). */
  readonly gone: ReadonlySet<string>;
  readonly meter: StreamingMeter;
  readonly nowMs: () => number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Per partition: streaming rounds that did not yet show the catch-up (the source rotates with it). */
  readonly attempts: Map<number, number>;
}

/** Runs `fn` over the items, at most `width` at a time. */
export async function inPool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, worker));
}

function moveOf(s: MembershipState, partition: number): PartitionMove | undefined {
  return s.change?.moves.find((m) => m.partition === partition);
}

/** The live old owners a new owner can stream from (the dead member of a replace never). */
function sourcesOf(s: MembershipState, move: PartitionMove, down: ReadonlySet<string>): string[] {
  const targets = ownersToVerify(move);
  return liveSources(move, s.change!).filter((id) => !down.has(id) && !targets.includes(id));
}

interface StreamJob {
  readonly target: string;
  readonly source: string;
  readonly partitions: number[];
}

/** Sessions per (new owner, source): the source turns with the partition and its attempts, to spread load. */
function streamJobs(env: ActionEnv, s: MembershipState, partitions: readonly number[]): StreamJob[] {
  const groups = new Map<string, StreamJob>();
  for (const p of partitions) {
    const move = moveOf(s, p);
    if (move === undefined) continue;
    const sources = sourcesOf(s, move, env.down);
    if (sources.length === 0) continue;
    // A member that loses the partition is streamed from first: what it alone holds (a write acknowledged
    // by it alone, at `one`) reaches the new owners before its copy is dropped; later attempts rotate.
    const losing = sources.filter((id) => !move.to.includes(id));
    const tried = env.attempts.get(p) ?? 0;
    const source =
      tried === 0 && losing.length > 0 ? losing[p % losing.length]! : sources[(p + tried) % sources.length]!;
    for (const target of ownersToVerify(move)) {
      if (env.down.has(target)) continue;
      const key = `${target}\u0000${source}`;
      const job = groups.get(key) ?? { target, source, partitions: [] };
      job.partitions.push(p);
      groups.set(key, job);
    }
  }
  const max = env.settings.partitionsPerSessionMax;
  return [...groups.values()].flatMap((g) =>
    Array.from({ length: Math.ceil(g.partitions.length / max) }, (_, i) => ({
      ...g,
      partitions: g.partitions.slice(i * max, (i + 1) * max),
    })),
  );
}

/** Whether the session ended (converged or repaired); false when it failed or the call did. */
async function runJob(env: ActionEnv, s: MembershipState, job: StreamJob): Promise<boolean> {
  const body = encodeJson({ source: job.source, partitions: job.partitions, epoch: s.change!.sinceEpoch });
  try {
    const answer = decodeJson(
      await env.call(job.target, membershipRoutes.stream, body, env.settings.streamTimeoutMs, env.signal),
    ) as StreamAnswer;
    env.meter.streamed(answer.keysPulled, env.nowMs());
    if (answer.result !== 'failed' && answer.result !== 'cancelled') return true;
    env.logger.debug(
      { target: job.target, source: job.source, error: answer.error },
      'membership streaming session ended early',
    );
  } catch (err) {
    env.logger.debug(
      { target: job.target, source: job.source, err: (err as Error).message },
      'membership streaming session failed',
    );
  }
  return false;
}

/** Partition digests per partition, from every member asked (a member that did not answer is left out). */
export async function measure(
  env: ActionEnv,
  asked: ReadonlyMap<string, readonly number[]>,
): Promise<Map<number, Map<string, string>>> {
  const out = new Map<number, Map<string, string>>();
  await inPool([...asked], asked.size, async ([member, partitions]) => {
    try {
      const body = encodeJson({ partitions });
      const res = decodeJson(
        await env.call(member, membershipRoutes.digests, body, env.settings.requestTimeoutMs, env.signal),
      ) as { digests?: Record<string, string> };
      for (const [p, d] of Object.entries(res.digests ?? {})) {
        const m = out.get(Number(p)) ?? new Map<string, string>();
        m.set(member, d);
        out.set(Number(p), m);
      }
    } catch (err) {
      env.logger.debug({ member, err: (err as Error).message }, 'membership digest measurement failed');
    }
  });
  return out;
}

/** Who to ask for the digests of these partitions: their new owners to verify and their live sources. */
function digestAsks(env: ActionEnv, s: MembershipState, partitions: readonly number[]) {
  const asked = new Map<string, number[]>();
  for (const p of partitions) {
    const move = moveOf(s, p);
    if (move === undefined) continue;
    for (const id of new Set([...ownersToVerify(move), ...liveSources(move, s.change!)])) {
      if (env.down.has(id)) continue;
      asked.set(id, [...(asked.get(id) ?? []), p]);
    }
  }
  return asked;
}

/** Measures the partitions' digests on their owners; records the streaming progress; the reports. */
export async function measureMoves(
  env: ActionEnv,
  s: MembershipState,
  partitions: readonly number[],
): Promise<DriverReport[]> {
  const digests = await measure(env, digestAsks(env, s, partitions));
  const reports: DriverReport[] = [];
  for (const p of partitions) {
    const d = digests.get(p);
    if (d === undefined) continue;
    env.meter.measured(s, p, d);
    reports.push({ kind: 'digests', partition: p, digests: d });
  }
  return reports;
}

/**
 * Streams the partitions to their new owners (sessions per pair, `streamingConcurrency` at a time), then
 * measures their digests on every owner: the reports of the tick's streaming and verifying.
 */
export async function streamAndMeasure(
  env: ActionEnv,
  s: MembershipState,
  partitions: readonly number[],
): Promise<{ reports: DriverReport[]; failed: Set<number> }> {
  const failed = new Set<number>();
  if (partitions.length === 0) return { reports: [], failed };
  await inPool(streamJobs(env, s, partitions), env.settings.streamingConcurrency, async (job) => {
    if (!(await runJob(env, s, job))) for (const p of job.partitions) failed.add(p);
  });
  if (env.signal.aborted) return { reports: [], failed };
  return { reports: await measureMoves(env, s, partitions), failed };
}

/**
 * Asks each member to drop its copy of the listed partitions; returns the partitions every named member
 * dropped (a member down or failing keeps its partitions for a later tick).
 */
export async function dropCopies(
  env: ActionEnv,
  drops: ReadonlyArray<{ readonly partition: number; readonly members: readonly string[] }>,
  reason: DropReason,
  /** The change's epoch (sinceEpoch): a discard fences that change's streaming on the member. */
  epoch: number,
): Promise<number[]> {
  const byMember = new Map<string, number[]>();
  for (const d of drops)
    for (const m of d.members) byMember.set(m, [...(byMember.get(m) ?? []), d.partition]);
  const failed = new Set<string>();
  await inPool([...byMember], env.settings.streamingConcurrency, async ([member, partitions]) => {
    // An old owner down for longer than the takeover limit does not hold the change back: it removes its copy
    // itself, after the grace, once it installs the state that says the partition moved away
    // (membership-discards.ts). One down for less is waited for (a decommissioned member leaves empty).
    if (env.gone.has(member) && reason === 'cleanup') {
      env.logger.info({ member, partitions: partitions.length }, 'old owner down: it cleans up on its own');
      return;
    }
    if (env.down.has(member)) {
      failed.add(member);
      return;
    }
    try {
      const body = encodeJson({ partitions, reason, epoch });
      await env.call(member, membershipRoutes.drop, body, env.settings.requestTimeoutMs, env.signal);
    } catch (err) {
      failed.add(member);
      env.logger.warn({ member, reason, err: (err as Error).message }, 'membership drop failed');
    }
  });
  return drops.filter((d) => d.members.every((m) => !failed.has(m))).map((d) => d.partition);
}

/** Asks each member to drop the hints it keeps for `member`; returns the members that did. */
export async function dropHintsFor(env: ActionEnv, members: readonly string[], member: string) {
  const done: string[] = [];
  await inPool(members, env.settings.streamingConcurrency, async (m) => {
    if (env.down.has(m)) return;
    try {
      const body = encodeJson({ member });
      await env.call(m, membershipRoutes.dropHints, body, env.settings.requestTimeoutMs, env.signal);
      done.push(m);
    } catch (err) {
      env.logger.debug({ member: m, err: (err as Error).message }, 'membership hint drop failed');
    }
  });
  return done;
}
