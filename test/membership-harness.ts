// TEST HARNESS, not the product: an in-memory MembershipHandle over a LocalCluster of real nodes (loopback
// HTTP between them), standing in for the membership service (membership-service.ts, built separately) so
// that the driver loop can be tested alone. It holds one state for the whole cluster and "spreads" an
// install by advancing every running node's ring at once. A node routes by the state's ring with each moved
// partition's new list (a Topology cannot show old ∪ new write sets: the service's routing does that); the
// new owners of a pending partition receive it only through the streaming sessions.

import assert from 'node:assert/strict';
import type { LocalCluster } from '../src/cli/cluster.js';
import {
  createMembershipDriver,
  type MembershipDriver,
  type MembershipDriverSettings,
  memberCallOf,
} from '../src/cluster/membership-driver-loop.js';
import type { MembershipHandle } from '../src/cluster/membership-handle.js';
import { tokenOf } from '../src/core/hash.js';
import { createMembership, type MembershipState } from '../src/core/membership.js';
import { Topology } from '../src/core/topology.js';
import type { LiveTopology } from '../src/core/topology-describe.js';
import { systemClock, systemTimers } from '../src/runtime/system.js';
import { eventually } from './helpers.js';

/** The ring nodes route by for a state: the settled lists, with each moved partition's new list. */
export function routingRing(s: MembershipState, leafBits: number): Topology {
  const lists = Array.from({ length: s.ring.partitions }, (_, p) => [...s.ring.replicasOf(p)]);
  for (const m of s.change?.moves ?? []) {
    if (m.state === 'moved' || m.state === 'cleaned') lists[m.partition] = [...m.to];
  }
  return Topology.fromAssignment({
    members: s.members,
    partitions: s.ring.partitions,
    replicationFactor: s.ring.replicationFactor,
    epoch: s.epoch,
    leafBits,
    lists,
  });
}

export class MemoryMembership {
  state: MembershipState;
  /** Members whose installed epoch the harness does not advance (to hold moves back). */
  readonly lagging = new Set<string>();
  readonly downSet = new Set<string>();
  readonly installed = new Map<string, number>();
  private readonly listeners: Array<(s: MembershipState) => void> = [];

  constructor(
    readonly cluster: LocalCluster,
    members: readonly string[],
    readonly leafBits: number,
    ring: { partitions: number; replicationFactor: number },
  ) {
    const first = cluster.node(members[0]!).ctx.topology.current;
    const settled = Topology.create({ members: [...members], ...ring, leafBits, epoch: first.epoch + 1 });
    this.state = createMembership(settled);
    this.spread(this.state);
  }

  private spread(s: MembershipState): void {
    const ring = routingRing(s, this.leafBits);
    for (const [id, r] of this.cluster.running) {
      (r.ctx.topology as LiveTopology).advance(ring);
      if (!this.lagging.has(id)) this.installed.set(id, s.epoch);
    }
  }

  /** A restarted node runs the ring of its configuration: the state's ring is given to it again. */
  respread(): void {
    this.spread(this.state);
  }

  /** Lets the lagging members catch up (their installed epoch becomes the current one). */
  catchUp(): void {
    this.lagging.clear();
    for (const id of this.cluster.running.keys()) this.installed.set(id, this.state.epoch);
  }

  /** Begins a change as the driver node would (the core's begin*), installed everywhere. */
  begin(next: MembershipState): void {
    this.state = next;
    this.spread(next);
    for (const l of [...this.listeners]) l(next);
  }

  handleFor(drives: () => boolean): MembershipHandle {
    return {
      current: () => this.state,
      addressOf: (id) => this.cluster.url(id),
      install: async (next) => {
        if (next.epoch <= this.state.epoch) throw new Error(`install of epoch ${next.epoch} not above`);
        this.begin(next);
      },
      installedEpochs: () => new Map(this.installed),
      down: () => new Set(this.downSet),
      drives,
      onInstalled: (listener) => {
        this.listeners.push(listener);
        return () => {
          const i = this.listeners.indexOf(listener);
          if (i >= 0) this.listeners.splice(i, 1);
        };
      },
    };
  }

  /** A driver on `self`, calling the members through that node's HTTP transport. */
  driver(self: string, settings: Partial<MembershipDriverSettings>): MembershipDriver {
    const { node, transport } = this.cluster.node(self).ctx;
    return createMembershipDriver(
      this.handleFor(() => true),
      {
        call: memberCallOf(node, transport),
        clock: systemClock,
        timers: systemTimers,
        settings,
      },
    );
  }
}

/** Which partition a key falls in under the state's ring. */
export function partitionOfKey(s: MembershipState, key: Uint8Array): number {
  return s.ring.partitionOf(tokenOf(key));
}

// The scenarios' shared pieces (test/membership-*.test.ts).

export const ring = { partitions: 64, replicationFactor: 3 };
export const settings = {
  partitions: String(ring.partitions),
  'replication-factor': String(ring.replicationFactor),
  'ae-interval': '300ms',
};
export const fast: Partial<MembershipDriverSettings> = {
  cleanupGraceMs: 1500,
  tickMs: 100,
  streamingConcurrency: 2,
  partitionsPerSessionMax: 8,
  requestTimeoutMs: 20_000,
  streamTimeoutMs: 60_000,
};
const enc = new TextEncoder();
const dec = new TextDecoder();

export function membership(cluster: LocalCluster, members: string[]): MemoryMembership {
  return new MemoryMembership(cluster, members, cluster.configs[0]!.leafBits, ring);
}

/** Writes `count` keys at quorum through the given nodes; returns the keys acknowledged. */
export async function writeKeys(cluster: LocalCluster, via: string[], prefix: string, count: number) {
  const acked: string[] = [];
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const key = `${prefix}-${i + j}`;
        const node = cluster.node(via[(i + j) % via.length]!).ctx.node;
        await node.put(key, enc.encode(`v:${key}`), 'quorum');
        acked.push(key);
      }),
    );
  }
  return acked;
}

/** A steady write load (new keys, quorum) through `via` until stopped; returns what was acknowledged. */
export function writeLoad(cluster: LocalCluster, via: string[], prefix: string) {
  let stopped = false;
  const acked: string[] = [];
  let failed = 0;
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const key = `${prefix}-${w}-${i}`;
      try {
        await cluster.node(via[(w + i) % via.length]!).ctx.node.put(key, enc.encode(`v:${key}`), 'quorum');
        acked.push(key);
      } catch {
        failed += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const loops = [0, 1, 2].map(loop);
  return {
    async stop(): Promise<{ acked: string[]; failed: number }> {
      stopped = true;
      await Promise.all(loops);
      return { acked, failed };
    },
  };
}

/** What is wrong with the placement: a partition held off its owners, or owners that differ. Null: none. */
export function misplaced(cluster: LocalCluster, s: MembershipState, ids: string[]): string | null {
  const t = s.ring;
  for (let p = 0; p < t.partitions; p++) {
    const owners = t.replicasOf(p);
    const shown = new Set<string>();
    for (const id of ids) {
      const n = cluster.node(id).ctx.replica.digest.node(t.partitionBits, p);
      if (!owners.includes(id) && n.count > 0) return `${id} holds ${n.count} records of partition ${p}`;
      if (owners.includes(id)) shown.add(`${n.hi}:${n.lo}:${n.count}`);
    }
    if (shown.size > 1) return `the owners of partition ${p} differ`;
  }
  return null;
}

/** A quorum read, tried again when it fails (a busy machine may time a replica out); a miss is no failure. */
export async function readQuorum(cluster: LocalCluster, via: string, key: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await cluster.node(via).ctx.node.get(key, 'quorum');
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

export async function assertReadable(
  cluster: LocalCluster,
  via: string,
  keys: readonly string[],
): Promise<void> {
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map(async (key) => {
        const r = await readQuorum(cluster, via, key);
        assert.ok(r.found, `${key} is readable at quorum`);
        assert.equal(dec.decode(r.value!), `v:${key}`);
      }),
    );
  }
}

export async function droppedRecords(cluster: LocalCluster, id: string, reason: string): Promise<number> {
  const metric = cluster.node(id).ctx.registry.getSingleMetric('converge_membership_dropped_records_total');
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

export async function settled(cluster: LocalCluster, m: MemoryMembership, ids: string[]): Promise<void> {
  await eventually(() => m.state.change === null, 180_000, 'the change to finish');
  await eventually(() => misplaced(cluster, m.state, ids) === null, 60_000, 'keys on exactly their owners');
}
