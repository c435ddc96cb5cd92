// The driver loop against a small in-memory world (members as partition → keys, the membership routes as
// functions): the grace before a drop, stalls while a new owner is down, a cancel refused after a move, the
// hints of a replaced member, progress with an ETA.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { beginJoin, beginReplace, createMembership, type MembershipState } from '../core/membership.js';
import { Topology } from '../core/topology.js';
import { systemClock, systemTimers } from '../runtime/system.js';
import { eventually } from './cluster-test-helpers.js';
import { decodeJson, encodeJson } from './codec.js';
import { createMembershipDriver, type MembershipDriver } from './membership-driver-loop.js';
import type { MembershipHandle } from './membership-handle.js';
import { membershipRoutes } from './membership-routes.js';

const P = 16;

class World {
  state: MembershipState;
  readonly data = new Map<string, Map<number, Set<string>>>();
  readonly down = new Set<string>();
  readonly drops: Array<{ member: string; partition: number; atMs: number }> = [];
  readonly hintDrops: Array<{ member: string; of: string }> = [];
  readonly movedAt = new Map<number, number>();

  constructor(members: string[]) {
    this.state = createMembership(Topology.create({ members, partitions: P, replicationFactor: 3 }));
    for (let p = 0; p < P; p++)
      for (const id of this.state.ring.replicasOf(p))
        this.holding(id).set(p, new Set(Array.from({ length: 10 }, (_, i) => `k${p}-${i}`)));
  }

  holding(id: string): Map<number, Set<string>> {
    const m = this.data.get(id) ?? new Map<number, Set<string>>();
    this.data.set(id, m);
    return m;
  }

  keys(id: string, p: number): Set<string> {
    return this.holding(id).get(p) ?? new Set();
  }

  install(next: MembershipState): void {
    this.state = next;
    for (const m of next.change?.moves ?? [])
      if (m.movedAtMs !== null && !this.movedAt.has(m.partition)) this.movedAt.set(m.partition, m.movedAtMs);
  }

  handle(): MembershipHandle {
    return {
      current: () => this.state,
      addressOf: (id) => `mem://${id}`,
      install: async (next) => this.install(next),
      installedEpochs: () => new Map(this.state.members.map((m) => [m.id, this.state.epoch])),
      down: () => new Set(this.down),
      drives: () => true,
      onInstalled: () => () => undefined,
    };
  }

  async call(member: string, route: string, body: Uint8Array): Promise<Uint8Array> {
    if (this.down.has(member)) throw new ConvergeError('UNAVAILABLE', `${member} is down`);
    const msg = decodeJson(body) as { partitions: number[]; source: string; member: string };
    if (route === membershipRoutes.stream) {
      let pulled = 0;
      for (const p of msg.partitions) {
        const mine = this.keys(member, p);
        for (const k of this.keys(msg.source, p)) {
          if (mine.has(k)) continue;
          mine.add(k);
          pulled += 1;
        }
        this.holding(member).set(p, mine);
      }
      return encodeJson({
        result: 'repaired',
        error: null,
        keysPulled: pulled,
        keysPushed: 0,
        resumed: false,
      });
    }
    if (route === membershipRoutes.digests) {
      const digests: Record<number, string> = {};
      for (const p of msg.partitions) {
        const ks = [...this.keys(member, p)].sort();
        digests[p] = `${ks.join(',')}:${ks.length}`;
      }
      return encodeJson({ digests });
    }
    if (route === membershipRoutes.drop) {
      for (const p of msg.partitions) {
        this.holding(member).delete(p);
        this.drops.push({ member, partition: p, atMs: systemClock.now() });
      }
      return encodeJson({ dropped: 1 });
    }
    this.hintDrops.push({ member, of: msg.member });
    return encodeJson({ dropped: 0 });
  }

  driver(graceMs: number): MembershipDriver {
    return createMembershipDriver(this.handle(), {
      call: (member, route, body) => this.call(member, route, body),
      clock: systemClock,
      timers: systemTimers,
      settings: { cleanupGraceMs: graceMs, tickMs: 10, partitionsPerSessionMax: 2, streamingConcurrency: 1 },
    });
  }

  /** Every partition on exactly its owners, and every owner holding its 10 keys. */
  placed(): boolean {
    for (let p = 0; p < P; p++) {
      const owners = this.state.ring.replicasOf(p);
      for (const [id, held] of this.data) {
        const n = held.get(p)?.size ?? 0;
        if (owners.includes(id) ? n !== 10 : n !== 0) return false;
      }
    }
    return true;
  }
}

test('a join ends with each partition on exactly its owners; no old copy dropped before the grace', async () => {
  const w = new World(['a', 'b', 'c']);
  w.install(beginJoin(w.state, 'd'));
  const driver = w.driver(150);
  driver.start();
  try {
    await eventually(() => w.state.change === null, 20_000, 'the join to finish');
  } finally {
    await driver.stop();
  }
  assert.ok(w.placed(), 'every partition on exactly its final owners');
  assert.ok(w.drops.length > 0);
  for (const d of w.drops) {
    const moved = w.movedAt.get(d.partition);
    assert.ok(
      moved !== undefined && d.atMs >= moved + 150,
      `partition ${d.partition} dropped after the grace`,
    );
  }
  assert.equal(driver.view.progress(), null, 'no progress once the change is over');
});

test('a new owner down stalls its partitions (named, with why) until it is back', async () => {
  const w = new World(['a', 'b', 'c']);
  w.install(beginJoin(w.state, 'd'));
  w.down.add('d');
  const driver = w.driver(0);
  try {
    await driver.tick();
    const stalled = driver.view.stalled();
    assert.equal(stalled.length, w.state.change!.moves.length);
    assert.match(stalled[0]!.reason, /new owner d is down/);
    assert.ok(w.state.change!.moves.every((m) => m.state === 'pending'));
    w.down.delete('d');
    driver.start();
    await eventually(() => w.state.change === null, 20_000, 'the join to finish once d is back');
    assert.deepEqual(driver.view.stalled(), []);
    assert.ok(w.placed());
  } finally {
    await driver.stop();
  }
});

test('progress shows records left and a rate; a cancel after a move is refused', async () => {
  const w = new World(['a', 'b', 'c']);
  w.install(beginJoin(w.state, 'd'));
  const driver = w.driver(60_000);
  try {
    await driver.tick();
    const progress = driver.view.progress();
    assert.ok(progress !== null && progress.recordsLeft >= 0 && progress.recordsPerSec > 0, 'progress');
    await eventually(
      async () => {
        await driver.tick();
        return w.state.change!.moves.some((m) => m.state === 'moved');
      },
      20_000,
      'a partition moved',
    );
    await assert.rejects(driver.cancel(), { code: 'CHANGE_NOT_CANCELLABLE' });
    assert.notEqual(w.state.change, null);
  } finally {
    await driver.stop();
  }
});

test('a replace drops the hints every live member keeps for the dead one', async () => {
  const w = new World(['a', 'b', 'c', 'd']);
  w.down.add('d');
  w.install(beginReplace(w.state, 'd', 'e'));
  const driver = w.driver(0);
  driver.start();
  try {
    await eventually(() => w.state.change === null, 20_000, 'the replace to finish');
  } finally {
    await driver.stop();
  }
  assert.deepEqual(w.hintDrops.map((h) => `${h.member}:${h.of}`).sort(), ['a:d', 'b:d', 'c:d', 'e:d']);
  assert.ok(!w.state.members.some((m) => m.id === 'd'));
  w.data.delete('d');
  assert.ok(w.placed());
});
