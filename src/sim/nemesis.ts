// The faults: at random moments during the active phase, one of partitions (symmetric, asymmetric, one node
// isolated, a flapping link), message loss, duplication and delay, process crashes and power losses,
// restarts, clock jumps within the skew bound, clocks that run away beyond the drift bound, slow disks and
// full disks. `healAll` ends them: every link up, the network calm, disks fast and with room, every node
// running again. Offsets within the skew bound stay, as real skew would; a clock beyond the drift bound is
// fixed, and the operator then removes what that node stamped ahead (docs/operations.md, "A clock running
// ahead"). A node whose disk was full is not restarted: it must take writes again by itself.

import { calmNetwork } from './network.js';
import type { Owner } from './scheduler.js';
import type { SimNode, World } from './world.js';

type Fault = (world: World, owner: Owner) => string | null;

const pick = <T>(world: World, xs: readonly T[]): T | undefined => xs[world.random.int(xs.length)];

function others(world: World, node: SimNode): SimNode[] {
  return world.nodes.filter((n) => n !== node);
}

const faults: ReadonlyArray<readonly [weight: number, fault: Fault]> = [
  [
    3,
    function partition(world) {
      const shuffled = [...world.nodes];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = world.random.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const cut = 1 + world.random.int(world.nodes.length - 1);
      const side = new Set(shuffled.slice(0, cut));
      for (const a of world.nodes)
        for (const b of world.nodes) if (side.has(a) !== side.has(b)) world.network.block(a.id, b.id);
      return `partition {${[...side]
        .map((n) => n.id)
        .sort()
        .join(',')}} from the rest`;
    },
  ],
  [
    2,
    function isolate(world) {
      const node = pick(world, world.nodes)!;
      for (const o of others(world, node)) {
        world.network.block(node.id, o.id);
        world.network.block(o.id, node.id);
      }
      return `isolate ${node.id}`;
    },
  ],
  [
    2,
    function oneWay(world) {
      const from = pick(world, world.nodes)!;
      const to = pick(world, others(world, from))!;
      world.network.block(from.id, to.id);
      return `block ${from.id} -> ${to.id} (one way)`;
    },
  ],
  [
    1,
    function flap(world, owner) {
      const a = pick(world, world.nodes)!;
      const b = pick(world, others(world, a))!;
      let at = 0;
      for (let i = 0; i < 6; i++) {
        at += 50 + world.random.int(400);
        const down = i % 2 === 0;
        world.scheduler.schedule(owner, at, () => {
          if (down) {
            world.network.block(a.id, b.id);
            world.network.block(b.id, a.id);
          } else {
            world.network.unblock(a.id, b.id);
            world.network.unblock(b.id, a.id);
          }
        });
      }
      return `flap the link ${a.id} <-> ${b.id}`;
    },
  ],
  [
    3,
    function heal(world) {
      world.network.healLinks();
      return 'heal every link';
    },
  ],
  [
    2,
    function weather(world) {
      const r = world.random;
      if (r.next() < 0.3) {
        world.network.conditions = { ...calmNetwork };
        return 'calm network';
      }
      const c = {
        dropRate: r.next() * 0.2,
        dupRate: r.next() * 0.1,
        delayMsMin: 0.1,
        delayMsMax: 1 + r.next() * 40,
        spikeRate: r.next() * 0.05,
        spikeMsMax: r.next() * 2000,
      };
      world.network.conditions = c;
      return `network: loss ${c.dropRate.toFixed(2)}, duplication ${c.dupRate.toFixed(2)}, delay up to ${c.delayMsMax.toFixed(0)} ms, spikes ${c.spikeRate.toFixed(2)} up to ${c.spikeMsMax.toFixed(0)} ms`;
    },
  ],
  [
    3,
    function crash(world) {
      const up = world.nodes.filter((n) => n.up);
      if (up.length <= 1) return null;
      // Crashes aim at the moment that hurts most: a node with writes accepted but not yet on disk.
      const busy = up.filter((n) => n.replica!.stats().pending > 0);
      const node = busy.length > 0 && world.random.next() < 0.7 ? pick(world, busy)! : pick(world, up)!;
      // Under sync `none` a power loss may lose acknowledged writes by design; the checks hold for kill -9.
      const kind = world.random.next() < 0.3 && world.config.sync !== 'none' ? 'power' : 'process';
      world.crash(node, kind);
      return `${kind === 'power' ? 'power loss on' : 'kill -9'} ${node.id}`;
    },
  ],
  [
    3,
    function restart(world) {
      const down = world.nodes.filter((n) => !n.up);
      const node = pick(world, down);
      if (node === undefined) return null;
      world.boot(node);
      return `restart ${node.id} (incarnation ${node.incarnations - 1})`;
    },
  ],
  [
    1,
    function clockJump(world) {
      const node = pick(world, world.nodes)!;
      const max = world.config.clockSkewMsMax;
      node.offsetMs = Math.round((world.random.next() * 2 - 1) * max);
      return `clock of ${node.id} jumps to ${node.offsetMs >= 0 ? '+' : ''}${node.offsetMs} ms`;
    },
  ],
  [
    1,
    function clockRunsAway(world) {
      const { maxClockDriftMs, clockRunawayMsMin } = world.config;
      // One at a time: clocks wrong together in the same way cannot be told from right ones (operations.md).
      if (world.nodes.some((n) => Math.abs(n.offsetMs) > maxClockDriftMs)) return null;
      const node = pick(world, world.nodes)!;
      const sign = world.random.next() < 0.7 ? 1 : -1;
      node.offsetMs = sign * (maxClockDriftMs + clockRunawayMsMin + world.random.int(clockRunawayMsMin));
      node.clockRanAway = true;
      return `clock of ${node.id} runs away to ${node.offsetMs >= 0 ? '+' : ''}${node.offsetMs} ms, beyond the drift bound`;
    },
  ],
  [
    2,
    function slowDisk(world) {
      const node = pick(world, world.nodes)!;
      node.slowDisk = !node.slowDisk;
      return `disk of ${node.id} ${node.slowDisk ? 'turns slow' : 'is fast again'}`;
    },
  ],
  [
    1,
    function fullDisk(world) {
      const node = pick(world, world.nodes)!;
      node.diskFull = !node.diskFull;
      return `disk of ${node.id} ${node.diskFull ? 'is full' : 'has room again'}`;
    },
  ],
];

const totalWeight = faults.reduce((sum, [w]) => sum + w, 0);

export class Nemesis {
  private readonly owner: Owner = { name: 'nemesis', alive: true };

  constructor(private readonly world: World) {}

  start(): void {
    this.world.scheduler.repeatAtRandom(this.owner, this.world.random, this.world.config.faultGapMsMean, () =>
      this.strike(),
    );
  }

  /** Stops new faults and the ones still unfolding (a flapping link). */
  stop(): void {
    this.owner.alive = false;
  }

  /** Ends every fault: links up, calm network, fast disks, every node running. */
  healAll(): void {
    const { world } = this;
    world.network.healLinks();
    world.network.conditions = { ...calmNetwork };
    for (const n of world.nodes) {
      n.slowDisk = false;
      n.diskFull = false;
      if (!n.up) world.boot(n);
    }
    world.trace.log('heal: every link up, calm network, fast disks with room, every node running');
    // A clock that ran away may have been set right since (a later jump, as NTP would), leaving records
    // stamped ahead all the same: the operator's procedure is for every node whose clock ran away.
    for (const n of world.nodes) {
      if (n.clockRanAway || Math.abs(n.offsetMs) > world.config.maxClockDriftMs) this.fixClock(n);
    }
  }

  /** The operator's procedure for a clock that ran away: fix it, then remove what the node stamped ahead. */
  private fixClock(node: SimNode): void {
    const { world } = this;
    const was = node.offsetMs;
    node.clockRanAway = false;
    node.offsetMs = Math.round((world.random.next() * 2 - 1) * world.config.clockSkewMsMax);
    world.trace.log(`operator: clock of ${node.id} fixed (${was} -> ${node.offsetMs} ms)`);
    // A joiner restarted with --join runs only once a member answers it: the removal waits for that start.
    if (node.node === null) node.dropAheadAtStart = true;
    else world.dropAhead(node);
  }

  private strike(): void {
    let roll = this.world.random.next() * totalWeight;
    for (const [weight, fault] of faults) {
      roll -= weight;
      if (roll < 0) {
        const what = fault(this.world, this.owner);
        if (what !== null) this.world.trace.log(`fault: ${what}`);
        return;
      }
    }
  }
}
