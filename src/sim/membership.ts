// Membership changes as nemesis events: at the planned moment a new node joins (it asks a member, which
// begins the change and drives it), an operator decommissions a member, or a member dies for good and a new
// node replaces it. Sometimes the change is interrupted: a crash, a power loss or a partition of the
// streaming node (the new owner) or its source (an old owner) while partitions stream. The world follows the
// installed membership: a joiner joins the members the workload and the faults see once it runs; a member
// that left (decommissioned, or dead and replaced) is retired once the change has finished.

import { decommission } from '../cluster/membership-api.js';
import { describeChange } from '../core/membership.js';
import type { Owner } from './scheduler.js';
import { SimNode, type World } from './world.js';

export class MembershipNemesis {
  private readonly owner: Owner = { name: 'membership-nemesis', alive: true };
  /** The node the change brings in (join, replace), until it runs as a member. */
  private joiner: SimNode | null = null;
  /** Whether the change was asked for, and whether the world has seen it finish. */
  private asked = false;
  private finished = false;
  /** The member a decommission takes out. */
  private leaver: string | null = null;

  constructor(private readonly world: World) {}

  start(): void {
    const plan = this.world.config.membershipChange;
    if (plan === null) return;
    this.world.scheduler.schedule(this.owner, plan.atMs, () => this.begin());
  }

  /** Stops the interruptions still to come (the change itself goes on). */
  stop(): void {
    this.owner.alive = false;
  }

  private begin(): void {
    const { world } = this;
    const plan = world.config.membershipChange!;
    this.asked = true;
    if (plan.kind === 'decommission') this.decommission();
    else {
      const joiner = new SimNode(`n${world.nodes.length + world.retired.length + 1}`, world);
      const dead = plan.kind === 'replace' ? this.killForGood() : null;
      joiner.joinRequest = { replace: dead };
      this.joiner = joiner;
      world.trace.log(
        `membership: ${joiner.id} starts to ${dead === null ? 'join' : `replace ${dead} (dead for good)`}`,
      );
      world.boot(joiner);
    }
    if (plan.interrupted) {
      const gapMs = 200 + world.random.int(3000);
      world.scheduler.schedule(this.owner, gapMs, () => this.interrupt());
    }
  }

  /** A replace's dead member: a process that never comes back. */
  private killForGood(): string {
    const { world } = this;
    const victim = world.nodes[world.random.int(world.nodes.length)]!;
    world.deadForGood.add(victim.id);
    this.retire(victim, 'dies for good');
    return victim.id;
  }

  private retire(node: SimNode, why: string): void {
    const { world } = this;
    world.crash(node, 'process');
    world.nodes.splice(world.nodes.indexOf(node), 1);
    world.retired.push(node);
    world.trace.log(`membership: ${node.id} ${why}, retired`);
  }

  /** The operator asks a running member to decommission one (maybe itself), again until one begins it. */
  private decommission(): void {
    const { world } = this;
    const leaver = world.nodes[world.random.int(world.nodes.length)]!;
    this.leaver = leaver.id;
    const operator: Owner = { name: 'operator', alive: true };
    const attempt = (): void => {
      const up = world.nodes.filter((n) => n.up && n.membership !== null);
      const via = up[world.random.int(Math.max(1, up.length))];
      if (via === undefined) {
        world.scheduler.schedule(operator, 1000, attempt);
        return;
      }
      const latest = world.latestMembership()?.current();
      if (latest !== undefined && (latest.change !== null || !latest.members.some((m) => m.id === leaver.id)))
        return;
      let answered = false;
      // A member that dies while beginning never answers: the operator asks again after a while.
      world.scheduler.schedule(operator, 5000, () => {
        if (!answered) attempt();
      });
      decommission(via.membership!, leaver.id).then(
        () => {
          answered = true;
          world.trace.log(`membership: ${via.id} begins to decommission ${leaver.id}`);
        },
        (err: unknown) => {
          answered = true;
          world.trace.log(`membership: decommission of ${leaver.id} via ${via.id} refused: ${String(err)}`);
          world.scheduler.schedule(operator, 1000, attempt);
        },
      );
    };
    attempt();
  }

  /** A crash, power loss or partition of the node streaming (a new owner) or its source (an old owner). */
  private interrupt(): void {
    const { world } = this;
    const change = world.latestMembership()?.current().change ?? null;
    const move = change?.moves.find((m) => m.state === 'pending') ?? change?.moves[0];
    const streaming = move?.to.filter((id) => !move.from.includes(id)) ?? [];
    const sources = move?.from ?? [];
    const side = world.random.next() < 0.5 ? streaming : sources;
    const candidates = [...world.nodes, ...(this.joiner === null ? [] : [this.joiner])].filter((n) =>
      (side.length > 0 ? side : [this.joiner?.id]).includes(n.id),
    );
    const target = candidates[world.random.int(Math.max(1, candidates.length))];
    if (target === undefined || target.owner?.alive !== true) return;
    const role = streaming.includes(target.id) || target === this.joiner ? 'streaming node' : 'source';
    const roll = world.random.next();
    if (roll < 0.4) {
      for (const o of world.nodes) {
        if (o === target) continue;
        world.network.block(target.id, o.id);
        world.network.block(o.id, target.id);
      }
      world.trace.log(`fault: isolate ${target.id}, the change's ${role}`);
      return;
    }
    const kind = roll < 0.7 || world.config.sync === 'none' ? 'process' : 'power';
    world.crash(target, kind);
    world.trace.log(
      `fault: ${kind === 'power' ? 'power loss on' : 'kill -9'} ${target.id}, the change's ${role}`,
    );
    // Brought back a moment later (the nemesis restarts members; a joiner not yet running is not one).
    const downMs = 500 + world.random.int(3000);
    world.scheduler.schedule(this.owner, downMs, () => {
      if (!target.up && !world.retired.includes(target)) {
        world.boot(target);
        world.trace.log(`restart ${target.id}, the change's ${role}`);
      }
    });
  }

  /** The heal: a joiner that is down runs again (it asks a member again, as its restart would). */
  heal(): void {
    const joiner = this.joiner;
    if (joiner !== null && !joiner.up && !this.world.retired.includes(joiner)) this.world.boot(joiner);
  }

  /**
   * Follows the installed membership (called with every sample): once the change has finished, a member
   * that left is retired (an operator stops it) and a joiner restarts as an ordinary member.
   */
  follow(): void {
    if (!this.asked || this.finished) return;
    const latest = this.world.latestMembership()?.current();
    if (latest === undefined || latest.change !== null) return;
    // Finished: the joiner is a member (no cancel is asked for), or the leaver is not one any more.
    const newcomer = this.joiner?.id ?? null;
    if (newcomer !== null && !latest.members.some((m) => m.id === newcomer)) return;
    if (this.leaver !== null && latest.members.some((m) => m.id === this.leaver)) return;
    this.finished = true;
    this.world.trace.log(`membership: the change has finished at epoch ${latest.epoch}`);
    if (this.joiner !== null) this.joiner.joinRequest = null;
    for (const n of [...this.world.nodes]) {
      if (latest.members.some((m) => m.id === n.id)) continue;
      // Its copies were dropped after the grace, before the change finished (its disk is checked here: the
      // node stops now and the final checks see only the members).
      const held = n.up ? [...n.replica!.scanTokens(new Uint8Array(0), undefined)].length : 0;
      if (held > 0) this.world.leftHolding.push(`${n.id} left the ring still holding ${held} records`);
      this.retire(n, 'left the ring');
    }
  }

  /** Whether the change is done (or none was planned); else what is still in progress. */
  progress(): string | null {
    if (this.world.config.membershipChange === null) return null;
    if (!this.asked) return 'the change was never asked for';
    if (this.finished) return null;
    const change = this.world.latestMembership()?.current().change ?? null;
    return change === null ? 'the change has not begun' : describeChange(change);
  }
}
