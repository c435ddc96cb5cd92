// TEST HARNESS, not the product: an in-memory MembershipHandle over a LocalCluster of real nodes (loopback
// HTTP between them), standing in for the membership service (membership-service.ts, built separately) so
// that the driver loop can be tested alone. It holds one state for the whole cluster and "spreads" an
// install by advancing every running node's ring at once. A node routes by the state's ring with each moved
// partition's new list (a Topology cannot show old ∪ new write sets: the service's routing does that); the
// new owners of a pending partition receive it only through the streaming sessions.

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
