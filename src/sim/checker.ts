// The properties every history must keep. During the history: hint stores within their bounds, no session
// running past its bound, no protocol crash. After it: all replicas converged, each replica's digest equal to
// a digest rebuilt from its records, no acknowledged write lost unless a newer one superseded it, no deleted
// key resurrected, no value that no client wrote, no record stamped further ahead than the drift bound (so no
// acknowledged write overridden by one), and reads that returned only values a client wrote. With a
// membership change, replicas are compared by the latest installed membership: once the change finished,
// every key is on exactly its partition's final owners (and a member that left holds nothing).

import { DigestTree } from '../core/digest.js';
import { tokenOf } from '../core/hash.js';
import { compareVersions, type Version, versionToString } from '../core/hlc.js';
import type { VersionedRecord } from '../core/record.js';
import type { ClientOp } from './workload.js';
import { epochMs, type SimNode, simDiskFullMessage, type World } from './world.js';

export type Fail = (message: string) => void;

const decoder = new TextDecoder();

export function parseVersion(text: string): Version {
  const match = /^(\d+)\.(\d+)@(.+)$/.exec(text);
  if (match === null) throw new Error(`not a version: ${text}`);
  return { ms: Number(match[1]), counter: Number(match[2]), node: match[3]! };
}

/** Checked every few hundred virtual milliseconds while the history runs. */
export function checkRunning(world: World, fail: Fail): void {
  world.samples += 1;
  const { config } = world;
  for (const crash of world.network.crashes.splice(0)) {
    fail(`protocol crash: ${crash.node} failed on ${crash.route}: ${crash.error}`);
  }
  for (const n of world.nodes) {
    if (!n.up) continue;
    // A full recount costs a scan; once a second of virtual time is often enough to catch drift early.
    if (world.samples % 4 === 0) checkDigest(n, fail);
    const hints = n.node!.ctx.hints;
    if (hints !== undefined) {
      for (const peer of world.nodes) {
        const pending = hints.pending(peer.id);
        if (pending > config.hintLimits.hintsPerPeerMax)
          fail(
            `${n.id} holds ${pending} hints for ${peer.id}, over hintsPerPeerMax ${config.hintLimits.hintsPerPeerMax}`,
          );
      }
      if (hints.bytes() > config.hintLimits.hintBytesMax)
        fail(
          `${n.id} holds ${hints.bytes()} bytes of hints, over hintBytesMax ${config.hintLimits.hintBytesMax}`,
        );
    }
    for (const peer of n.ae!.status().peers) {
      const running = peer.running;
      const slot = `${n.owner!.name} ${peer.peer}`;
      if (running === null) {
        world.sessionsSeen.delete(slot);
        continue;
      }
      // Timed from when this attempt was first seen running: a session resumed from a checkpoint keeps its
      // id and its original start time, however many attempts it takes.
      const seen = world.sessionsSeen.get(slot);
      const since = seen?.id === running.id ? seen.sinceMs : world.scheduler.nowMs;
      world.sessionsSeen.set(slot, { id: running.id, sinceMs: since });
      const ranMs = world.scheduler.nowMs - since;
      if (ranMs > config.sessionMsMax)
        fail(
          `${n.id}'s session ${running.id} with ${peer.peer} has run ${ranMs.toFixed(0)} ms, over ${config.sessionMsMax} ms`,
        );
    }
  }
}

/** The maintained digest must equal one computed from the records (pending writes included) at all times. */
function checkDigest(node: SimNode, fail: Fail): void {
  const replica = node.replica!;
  if (!replica.digestReady) return;
  const rebuilt = new DigestTree(replica.digest.leafBits);
  for (const { token, record } of replica.scanTokens(new Uint8Array(0), undefined))
    rebuilt.update(token, null, record.fp);
  if (rebuilt.rootHex() !== replica.digest.rootHex())
    fail(`${node.id}'s digest ${replica.digest.rootHex()} differs from its records' ${rebuilt.rootHex()}`);
}

/** Whether every node holds every key (RF = N): then whole digests compare, as before the ring. */
function fullRing(world: World): boolean {
  // A membership change makes the ring a partitioned one (a joiner to RF = N), so those compare by partition.
  return world.config.membershipChange === null && world.config.replicationFactor >= world.config.nodes;
}

/**
 * A partition's replicas the world runs: those of the ring (with membership, of the latest installed
 * state's write sets, so a change that did not finish is checked as installed), less any retired member.
 */
function replicasOf(world: World, partition: number): string[] {
  const running = new Set(world.nodes.map((n) => n.id));
  return world
    .ring()
    .replicasOf(partition)
    .filter((id) => running.has(id));
}

/**
 * Who may also hold a partition: with a change that did not finish, the old owners of a partition that moved
 * and whose cleanup grace may not have passed yet.
 */
function mayHold(world: World, partition: number): readonly string[] {
  const change = world.latestMembership()?.current().change ?? null;
  const move = change?.moves.find((m) => m.partition === partition && m.state === 'moved');
  return move?.from ?? [];
}

/**
 * True when every node runs with a ready digest and the replicas agree: all roots equal when every node
 * holds every key, else, partition by partition, the digest nodes of the partition's replicas.
 */
export function converged(world: World): boolean {
  for (const n of world.nodes) if (!n.up || !n.replica!.digestReady) return false;
  if (fullRing(world)) return new Set(world.nodes.map((n) => n.replica!.digest.rootHex())).size === 1;
  return divergentPartitions(world).length === 0;
}

/** The partitions whose replicas' digest nodes differ (every replica up). */
function divergentPartitions(world: World): number[] {
  const t = world.ring();
  const byId = new Map(world.nodes.map((n) => [n.id, n]));
  const out: number[] = [];
  for (let p = 0; p < t.partitions; p++) {
    const nodes = replicasOf(world, p).map((id) => byId.get(id)!.replica!.digest.node(t.partitionBits, p));
    if (nodes.length === 0) continue;
    if (nodes.some((d) => d.hi !== nodes[0]!.hi || d.lo !== nodes[0]!.lo || d.count !== nodes[0]!.count))
      out.push(p);
  }
  return out;
}

export function describeRoots(world: World): string {
  const roots = world.nodes.map((n) => `${n.id}=${n.up ? n.replica!.digest.rootHex() : 'down'}`).join(' ');
  if (fullRing(world) || world.nodes.some((n) => !n.up || !n.replica!.digestReady)) return roots;
  const differ = divergentPartitions(world);
  return `${roots}; partitions differing: ${differ.length === 0 ? 'none' : differ.join(',')}`;
}

function contents(node: SimNode): Map<string, VersionedRecord> {
  const out = new Map<string, VersionedRecord>();
  for (const { record } of node.replica!.scanTokens(new Uint8Array(0), undefined))
    out.set(decoder.decode(record.key), record);
  return out;
}

/** Runs once the replicas have converged after the faults ended. */
export function checkFinal(world: World, ops: readonly ClientOp[], fail: Fail): void {
  const maps = world.nodes.map((n) => ({ node: n, records: contents(n) }));
  for (const { node } of maps) {
    checkDigest(node, fail);
    const mismatches = node.ae!.verifier.mismatches;
    if (mismatches > 0) fail(`${node.id}'s background verification found ${mismatches} digest mismatches`);
  }
  for (const left of world.leftHolding) fail(left);
  const first = maps[0]!;
  const byKey = fullRing(world) ? first.records : compareKeyReplicas(world, maps, fail);
  if (fullRing(world)) {
    for (const { node, records } of maps.slice(1)) {
      for (const key of new Set([...records.keys(), ...first.records.keys()])) {
        const a = first.records.get(key);
        const b = records.get(key);
        if (a === undefined || b === undefined || compareVersions(a.version, b.version) !== 0)
          fail(`replicas differ on ${key}: ${first.node.id} has ${show(a)}, ${node.id} has ${show(b)}`);
      }
    }
  }
  for (const { node } of maps) {
    for (const entry of node.ae!.state.history) {
      const error = entry.error ?? '';
      if (
        entry.result === 'failed' &&
        !world.network.networkErrors.has(error) &&
        error !== simDiskFullMessage
      )
        fail(`${node.id}'s session ${entry.id} with ${entry.peer} failed on its own side: ${entry.error}`);
    }
  }
  checkNoPhantomDivergence(world, fail);
  checkKeys(world, ops, byKey, fail);
  checkReads(world, ops, fail);
  checkAnswers(ops, fail);
}

/**
 * With RF < N: every key compared among its own replicas only, and no node holding a record of a partition
 * it does not hold (nothing puts one there: writes, hints and read repair go to the key's replicas, and a
 * session only moves records of partitions both sides hold). Returns each key's record, from its replicas.
 */
function compareKeyReplicas(
  world: World,
  maps: ReadonlyArray<{ node: SimNode; records: Map<string, VersionedRecord> }>,
  fail: Fail,
): Map<string, VersionedRecord> {
  const t = world.ring();
  const byId = new Map(maps.map((m) => [m.node.id, m]));
  const encoder = new TextEncoder();
  const out = new Map<string, VersionedRecord>();
  const keys = new Set(maps.flatMap((m) => [...m.records.keys()]));
  for (const key of keys) {
    const partition = t.partitionOf(tokenOf(encoder.encode(key)));
    const replicas = replicasOf(world, partition);
    const extra = mayHold(world, partition);
    for (const { node, records } of maps) {
      if (!replicas.includes(node.id) && !extra.includes(node.id) && records.has(key))
        fail(
          `${node.id} holds ${key} (${show(records.get(key))}), of partition ${partition} it does not hold ` +
            `(its replicas: ${replicas.join(',')})`,
        );
    }
    if (replicas.length === 0) continue;
    const first = byId.get(replicas[0]!)!;
    const a = first.records.get(key);
    if (a !== undefined) out.set(key, a);
    for (const id of replicas.slice(1)) {
      const b = byId.get(id)!.records.get(key);
      if (a === undefined && b === undefined) continue;
      if (a === undefined || b === undefined || compareVersions(a.version, b.version) !== 0)
        fail(`replicas differ on ${key}: ${first.node.id} has ${show(a)}, ${id} has ${show(b)}`);
    }
  }
  return out;
}

/**
 * A node that answers a client is up: it never names itself unreachable (its full disk is not a lost node).
 */
function checkAnswers(ops: readonly ClientOp[], fail: Fail): void {
  for (const op of ops) {
    if (op.outcome !== 'failed' || !op.unreachable?.includes(op.node)) continue;
    const what = `op${op.id} (${op.kind} ${op.key} via ${op.node})`;
    fail(`${what} failed ${op.errorCode} naming its own node unreachable`);
  }
}

/**
 * Once converged, with writes and faults over, replicas differ at most by tombstone purges done a moment
 * apart: a session begun after that point that reports divergence found a purge, not drift.
 */
function checkNoPhantomDivergence(world: World, fail: Fail): void {
  const before = world.sessionsBeforeConvergence;
  if (before === null) return;
  const late = lateWrite(world);
  if (late !== undefined) {
    // A write whose coordinator gave up on it (a message timed out while the replica was still applying it)
    // may land after the replicas converged: sessions then find it, which is drift, not a purge.
    world.trace.log(`after convergence a write landed: ${late}; sessions may find it`);
    return;
  }
  for (const node of world.nodes) {
    for (const entry of node.ae!.state.history) {
      if (entry.initiator !== node.id || before.has(entry.id) || entry.keysDivergent === 0) continue;
      fail(
        `${node.id}'s session ${entry.id} with ${entry.peer}, begun after the replicas converged, reported ` +
          `${entry.keysDivergent} divergent (pulled ${entry.keysPulled}, pushed ${entry.keysPushed})`,
      );
    }
  }
}

/** A record written (a new version) on some node since the replicas converged; purges only remove records. */
function lateWrite(world: World): string | undefined {
  const then = world.versionsAtConvergence;
  if (then === null) return undefined;
  const now = world.recordVersions();
  for (const [i, versions] of now.entries()) {
    for (const [key, version] of versions) {
      if (then[i]?.get(key) !== version) return `${key} ${version} on ${world.nodes[i]!.id}`;
    }
  }
  return undefined;
}

function show(r: VersionedRecord | undefined): string {
  if (r === undefined) return 'nothing';
  return `${r.tombstone ? 'a tombstone' : decoder.decode(r.value)} ${versionToString(r.version)}`;
}

/** Every record was written by a client, and none is stamped beyond the drift bound (overriding a write). */
function checkOrigins(
  world: World,
  ops: readonly ClientOp[],
  records: Map<string, VersionedRecord>,
  aheadMs: (version: string) => number,
  fail: Fail,
): void {
  const { maxClockDriftMs } = world.config;
  for (const [key, record] of records) {
    const origin = world.created.get(versionToString(record.version));
    const value = record.tombstone ? null : decoder.decode(record.value);
    if (
      origin === undefined ||
      origin.key !== key ||
      origin.tombstone !== record.tombstone ||
      origin.value !== value
    )
      fail(`${key} holds ${show(record)}, which no client wrote`);
    const ahead = aheadMs(versionToString(record.version));
    if (ahead > maxClockDriftMs) {
      const overridden = ops.filter(
        (op) =>
          op.key === key &&
          op.kind !== 'get' &&
          op.outcome === 'ok' &&
          compareVersions(parseVersion(op.version!), record.version) < 0 &&
          op.issuedAtMs + epochMs >= (origin?.createdAtMs ?? 0),
      );
      const stamped = `${show(record)}, stamped ${ahead} ms ahead of when it was written (drift bound ${maxClockDriftMs} ms)`;
      fail(
        overridden.length > 0
          ? `${key} lost write: acknowledged op${overridden.map((o) => o.id).join(', op')} overridden by ${stamped}`
          : `${key} holds ${stamped}`,
      );
    }
  }
}

function checkKeys(
  world: World,
  ops: readonly ClientOp[],
  records: Map<string, VersionedRecord>,
  fail: Fail,
): void {
  const latestAcked = new Map<string, ClientOp>();
  const { maxClockDriftMs } = world.config;
  const aheadMs = (version: string): number => {
    const origin = world.created.get(version);
    return origin === undefined ? 0 : Math.round(parseVersion(version).ms - origin.createdAtMs);
  };
  for (const op of ops) {
    if (op.kind === 'get' || op.outcome !== 'ok') continue;
    // Acknowledged by a node whose clock ran away while no peer could tell it: the operator removes those
    // (docs/operations.md), so they are not expected to survive.
    if (aheadMs(op.version!) > maxClockDriftMs) continue;
    // Acknowledged only by a member that then died for good (a replace): lost with its disk, as a write at
    // `one` is when its only replica is.
    if (op.acknowledged?.every((id) => world.deadForGood.has(id))) continue;
    const prev = latestAcked.get(op.key);
    if (prev === undefined || compareVersions(parseVersion(op.version!), parseVersion(prev.version!)) > 0)
      latestAcked.set(op.key, op);
  }
  checkOrigins(world, ops, records, aheadMs, fail);
  // The operator's removal of a future-stamped record also takes what it had overwritten on that node: a
  // write acknowledged by that node alone is lost with it (docs/operations.md, "What the check cannot see").
  // Any write that node stamped counts, acknowledged or not: a write that failed overall still applied there.
  const removedWith = (acked: ClientOp): boolean => {
    const version = parseVersion(acked.version!);
    for (const [v, c] of world.created) {
      if (c.key !== acked.key || aheadMs(v) <= maxClockDriftMs) continue;
      const stamped = parseVersion(v);
      if (stamped.node === version.node && compareVersions(stamped, version) > 0) return true;
    }
    return false;
  };
  for (const [key, acked] of latestAcked) {
    const version = parseVersion(acked.version!);
    const record = records.get(key);
    if (record !== undefined) {
      if (compareVersions(record.version, version) >= 0 || removedWith(acked)) continue;
      const what =
        acked.kind === 'del'
          ? `resurrected: op${acked.id} deleted it`
          : `lost write: op${acked.id} wrote ${acked.value}`;
      fail(
        `${key} ${what} at ${acked.version} (acknowledged at ${acked.consistency}), yet every replica holds ${show(record)}`,
      );
      continue;
    }
    // Absent everywhere: only a purged tombstone at least as new as the acknowledged write explains that.
    let purged = false;
    for (const [v, c] of world.created)
      if (c.key === key && c.tombstone && compareVersions(parseVersion(v), version) >= 0) purged = true;
    if (!purged)
      fail(
        `${key} lost write: op${acked.id} (${acked.kind} at ${acked.version}, acknowledged at ${acked.consistency}) is on no replica`,
      );
  }
}

function checkReads(world: World, ops: readonly ClientOp[], fail: Fail): void {
  for (const op of ops) {
    if (op.kind !== 'get' || op.outcome !== 'ok' || op.found !== true) continue;
    const origin = world.created.get(op.version!);
    if (origin === undefined || origin.key !== op.key || origin.value !== op.readValue)
      fail(`op${op.id} read ${op.key} = ${op.readValue} at ${op.version}, which no client wrote`);
  }
}
