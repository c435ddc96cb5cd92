// Unit tests of the anti-entropy process over the loopback transport and memory storage: convergence from
// random divergence, idempotent repair, checkpoint/resume after a simulated crash, and watermark-gated purge.
// Every wait is a condition with a deadline; sessions are triggered with runNow so the tests stay fast.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { type AntiEntropyProcess, createAntiEntropy } from '../src/antientropy/process.js';
import type { SessionLimits } from '../src/antientropy/session-env.js';
import { burstSeconds } from '../src/antientropy/throttle.js';
import { eventually } from '../src/cluster/cluster-test-helpers.js';
import { decodeJson, encodeRecords } from '../src/cluster/codec.js';
import { TransportFaults } from '../src/cluster/faults.js';
import { LoopbackNetwork } from '../src/cluster/loopback-transport.js';
import { type ConvergeNode, createNode } from '../src/cluster/node.js';
import type { Transport } from '../src/cluster/transport.js';
import { ConvergeError } from '../src/core/errors.js';
import { seededRandom } from '../src/core/random.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { decodePushResponse, encodePushRequest } from '../src/core/wire-repair.js';
import { type LocalReplica, openReplica } from '../src/replica/replica.js';
import { systemClock, systemTimers } from '../src/runtime/system.js';
import { createMemoryStorage, type MemoryStorage } from '../src/storage/memory.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const quietIntervalMs = 60_000; // scheduled sessions stay out of the way; most tests call runNow

interface Member {
  readonly id: string;
  readonly storage: MemoryStorage;
  readonly faults: TransportFaults;
  node: ConvergeNode;
  replica: LocalReplica;
  ae: AntiEntropyProcess;
}

interface Harness {
  readonly members: Member[];
  readonly network: LoopbackNetwork;
  /** Stops a member's node and process (its storage survives, like a killed process's disk). */
  crash(i: number): Promise<void>;
  restart(i: number): Promise<void>;
  close(): Promise<void>;
}

interface Setup {
  readonly network: LoopbackNetwork;
  readonly ids: string[];
  readonly graceMs: number;
  readonly intervalMs: number;
  readonly limits?: Partial<SessionLimits>;
  /** Stands between a member's anti-entropy and the network, to shape how its calls fail. */
  readonly aeTransport?: (id: string, inner: Transport) => Transport;
}

async function boot(h: Setup, m: Omit<Member, 'node' | 'replica' | 'ae'>, seed: number) {
  const replica = await openReplica({ id: m.id, storage: m.storage, leafBits: 8 });
  await replica.whenDigestReady();
  const node = createNode({
    id: m.id,
    peers: h.ids.map((id) => ({ id, url: `loopback://${id}` })),
    replica,
    transport: h.network.transport(m.id, m.faults),
    clock: systemClock,
    random: seededRandom(seed),
    timers: systemTimers,
    mechanisms: { hints: false, readRepair: false, antiEntropy: true },
    tickMs: 20,
    limits: { requestTimeoutMs: 500 },
  });
  const aeInner = h.network.transport(m.id, m.faults);
  const ae = createAntiEntropy({
    node,
    replica,
    transport: h.aeTransport?.(m.id, aeInner) ?? aeInner,
    peers: h.ids.filter((id) => id !== m.id),
    clock: systemClock,
    random: seededRandom(seed + 1),
    timers: systemTimers,
    registry: new Registry(),
    intervalMs: h.intervalMs,
    enabled: true,
    tombstoneGraceMs: h.graceMs,
    limits: { entriesMax: 64, ...h.limits },
  });
  h.network.register(m.id, (route, body, from) => node.handleInternal(route, body, from));
  node.start();
  ae.start();
  return { node, replica, ae };
}

async function harness(
  size: number,
  graceMs = 0,
  intervalMs = quietIntervalMs,
  limits?: Partial<SessionLimits>,
  aeTransport?: Setup['aeTransport'],
): Promise<Harness> {
  const network = new LoopbackNetwork();
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const setup: Setup = {
    network,
    ids,
    graceMs,
    intervalMs,
    ...(limits === undefined ? {} : { limits }),
    ...(aeTransport === undefined ? {} : { aeTransport }),
  };
  const members: Member[] = [];
  for (const [i, id] of ids.entries()) {
    const base = { id, storage: createMemoryStorage(), faults: new TransportFaults(seededRandom(i + 1)) };
    members.push({ ...base, ...(await boot(setup, base, 100 + 10 * i)) });
  }
  const crash = async (i: number): Promise<void> => {
    const m = members[i]!;
    network.unregister(m.id);
    await m.ae.stop();
    await m.node.close();
  };
  return {
    members,
    network,
    crash,
    async restart(i) {
      const m = members[i]!;
      Object.assign(m, await boot(setup, m, 500 + i));
    },
    async close() {
      for (const i of members.keys()) await crash(i).catch(() => {});
    },
  };
}

const roots = (h: Harness): string[] => h.members.map((m) => m.replica.digest.rootHex());
const allEqual = (xs: string[]): boolean => xs.every((x) => x === xs[0]);

/** Writes `n` records straight into chosen replicas (as if writes had reached only some of them). */
async function diverge(h: Harness, n: number, seed: number): Promise<void> {
  const random = seededRandom(seed);
  for (let k = 0; k < n; k++) {
    const key = `k${random.int(n)}`;
    const value = random.int(5) === 0 ? null : text(`v${k}`);
    const version = h.members[0]!.node.hlc.now();
    const record = makeRecord(keyToBytes(key), version, value);
    for (const m of h.members) if (random.int(2) === 0) await m.replica.apply([record], 'client');
  }
}

test('three replicas with random divergence converge to equal digests; a second session moves nothing', async () => {
  const h = await harness(3);
  try {
    await diverge(h, 2000, 7);
    assert.ok(!allEqual(roots(h)), 'the replicas start divergent');
    await h.members[0]!.ae.runNow();
    await h.members[1]!.ae.runNow('n3');
    assert.ok(allEqual(roots(h)), `digests equal after sessions: ${roots(h).join(' ')}`);
    const again = await h.members[0]!.ae.runNow();
    for (const e of again) {
      assert.equal(e.result, 'converged');
      assert.equal(e.keysPulled + e.keysPushed, 0, 'a session on converged replicas moves no records');
    }
  } finally {
    await h.close();
  }
});

test('a session cut short by a crash resumes from its checkpoint and completes without loss', async () => {
  const h = await harness(2);
  try {
    // Both hold every key, the first node newer versions: key-level differences spread over many rounds.
    for (let k = 0; k < 4000; k++) {
      await h.members[1]!.replica.apply(
        [makeRecord(keyToBytes(`c${k}`), h.members[0]!.node.hlc.now(), text('stale'))],
        'client',
      );
    }
    for (let k = 0; k < 4000; k++) {
      await h.members[0]!.replica.apply(
        [makeRecord(keyToBytes(`c${k}`), h.members[0]!.node.hlc.now(), text(`v${k}`))],
        'client',
      );
    }
    // A slow throttle keeps the session running long enough to crash it after its first checkpoint.
    h.members[0]!.ae.setThrottle({ recordsPerSecondMax: 2000 });
    let firstError: unknown;
    void h.members[0]!.ae.runNow('n2').catch((e: unknown) => {
      firstError = e;
    });
    await eventually(
      () => firstError !== undefined || h.members[0]!.ae.state.checkpoint('n2') !== undefined,
      10_000,
      'a checkpoint',
    );
    assert.equal(firstError, undefined);
    await h.crash(0);
    assert.ok(h.members[0]!.ae.state.checkpoint('n2') !== undefined, 'the checkpoint survives the crash');
    await h.restart(0);
    const [entry] = await h.members[0]!.ae.runNow('n2');
    assert.ok(entry !== undefined, 'a session ran');
    assert.ok(entry.resumed, 'the session after the restart continues the checkpointed one');
    assert.ok(
      entry.result === 'repaired' || entry.result === 'converged',
      `result ${entry.result}: ${entry.error}`,
    );
    assert.equal(h.members[1]!.replica.digest.count(), 4000);
    for (let k = 0; k < 4000; k += 97) {
      const r = h.members[1]!.replica.get(keyToBytes(`c${k}`));
      assert.equal(Buffer.from(r!.value!).toString(), `v${k}`, 'every newer version reached the peer');
    }
    assert.ok(allEqual(roots(h)));
    assert.equal(
      h.members[0]!.ae.state.checkpoint('n2'),
      undefined,
      'a finished session leaves no checkpoint',
    );
  } finally {
    await h.close();
  }
});

test('the throttle bounds the repair rate and can be changed at run time', async () => {
  const h = await harness(2);
  try {
    const [a, b] = h.members as [Member, Member];
    const n = 3000;
    for (let k = 0; k < n; k++)
      await b.replica.apply([makeRecord(keyToBytes(`t${k}`), a.node.hlc.now(), text('stale'))], 'client');
    for (let k = 0; k < n; k++)
      await a.replica.apply([makeRecord(keyToBytes(`t${k}`), a.node.hlc.now(), text(`v${k}`))], 'client');
    const recordsPerSecondMax = 2000;
    assert.throws(
      () => a.ae.setThrottle({ recordsPerSecondMax: -1 }),
      /recordsPerSecondMax must be a positive number/,
    );
    a.ae.setThrottle({ recordsPerSecondMax });
    assert.equal(a.ae.status().throttle.recordsPerSecondMax, recordsPerSecondMax);
    const [entry] = await a.ae.runNow('n2');
    assert.ok(entry !== undefined && entry.keysPushed === n, `pushed ${entry?.keysPushed}`);
    // The bucket allows a burst of burstSeconds' worth, then the rate: n ≤ rate × (burst + duration).
    const allowed = (recordsPerSecondMax * (burstSeconds * 1000 + entry.durationMs)) / 1000;
    assert.ok(
      n <= allowed,
      `${n} records in ${entry.durationMs} ms exceeds ${recordsPerSecondMax} records/s`,
    );
    assert.ok(
      entry.durationMs >= ((n - recordsPerSecondMax * burstSeconds) / recordsPerSecondMax) * 1000 * 0.9,
      `took only ${entry.durationMs} ms`,
    );
  } finally {
    await h.close();
  }
});

test('a session cancelled while a call is in flight records the operator reason, not the failed call', async () => {
  // Like the HTTP transport, this one turns an aborted call into an unreachable peer; the call after the
  // session's first round hangs until the session is cancelled.
  let held = 0;
  const hanging = (id: string, inner: Transport): Transport => ({
    async call(peer, request) {
      if (id !== 'n1' || request.route !== 'ae/msg' || held++ === 0) return inner.call(peer, request);
      return new Promise((_, reject) => {
        const fail = (): void =>
          reject(new ConvergeError('UNAVAILABLE', `${peer} is unreachable: AbortError`));
        if (request.signal?.aborted) fail();
        request.signal?.addEventListener('abort', fail, { once: true });
      });
    },
  });
  const h = await harness(2, 0, quietIntervalMs, undefined, hanging);
  try {
    const [a, b] = h.members as [Member, Member];
    for (let k = 0; k < 50; k++)
      await a.replica.apply([makeRecord(keyToBytes(`c${k}`), a.node.hlc.now(), text('v'))], 'client');
    await b.replica.apply([makeRecord(keyToBytes('only-b'), a.node.hlc.now(), text('v'))], 'client');
    const session = a.ae.runNow('n2');
    await eventually(() => held > 1, 10_000, 'a call in flight');
    assert.deepEqual(a.ae.cancel('n2'), ['n2']);
    const [entry] = await session;
    assert.equal(entry?.result, 'cancelled');
    assert.equal(entry?.error, 'cancelled by an operator');
  } finally {
    await h.close();
  }
});

test('pause stops new sessions from starting on the paused node; resume restarts them', async () => {
  const h = await harness(2, 0, 30);
  try {
    const [a] = h.members as [Member, Member];
    await eventually(
      () => a.ae.status().history.some((e) => e.initiator === 'n1'),
      5000,
      'a first scheduled session',
    );
    await a.ae.pause();
    const pausedAtMs = Date.now();
    assert.equal(a.ae.status().paused, true);
    assert.ok(
      a.ae.status().peers.every((p) => p.nextAtMs === null),
      'nothing scheduled while paused',
    );
    // The unpaused peer keeps running its sessions: several of them measure that several intervals passed.
    const since = (initiator: string, t: number) =>
      a.ae.status().history.filter((e) => e.initiator === initiator && e.startedAtMs > t);
    await eventually(() => since('n2', pausedAtMs).length >= 4, 5000, 'the peer to run sessions meanwhile');
    assert.equal(since('n1', pausedAtMs).length, 0, 'no session began on the paused node');
    await a.ae.resume();
    const resumedAtMs = Date.now();
    await eventually(() => since('n1', resumedAtMs).length > 0, 5000, 'sessions to start again after resume');
  } finally {
    await h.close();
  }
});

test('a pause survives a restart and says since when; a resume survives one too', async () => {
  const h = await harness(2, 0, 30);
  try {
    const before = Date.now();
    await h.members[0]!.ae.pause();
    const since = h.members[0]!.ae.status().pausedSinceMs;
    assert.ok(typeof since === 'number' && since >= before, `pausedSinceMs ${since}`);
    await h.members[0]!.ae.pause(); // a second pause keeps the first time
    assert.equal(h.members[0]!.ae.status().pausedSinceMs, since);
    await h.crash(0);
    await h.restart(0);
    const restarted = h.members[0]!.ae;
    assert.equal(restarted.status().paused, true, 'still paused after the restart');
    assert.equal(restarted.status().pausedSinceMs, since, 'since the original pause');
    // Several of the peer's intervals pass, and the paused node still begins nothing.
    const startedAtMs = Date.now();
    const by = (initiator: string) =>
      restarted.status().history.filter((e) => e.initiator === initiator && e.startedAtMs > startedAtMs);
    await eventually(() => by('n2').length >= 4, 5000, 'the peer to run sessions meanwhile');
    assert.equal(by('n1').length, 0, 'no session began on the node paused before its restart');
    await restarted.resume();
    await h.crash(0);
    await h.restart(0);
    assert.equal(h.members[0]!.ae.status().paused, false, 'the resume survives a restart');
    assert.equal(h.members[0]!.ae.status().pausedSinceMs, null);
  } finally {
    await h.close();
  }
});

test('a tombstone is purged only after every replica completed a session since; the key never reappears', async () => {
  const h = await harness(3, 0);
  try {
    const [a, b, c] = h.members as [Member, Member, Member];
    const key = keyToBytes('gone');
    const old = makeRecord(key, a.node.hlc.now(), text('old'));
    await a.replica.apply([old], 'client');
    await a.ae.runNow();
    await b.ae.runNow('n3');
    assert.ok(c.replica.get(key)?.value !== null, 'every replica holds the value');
    await h.crash(2); // n3 is down and misses the delete
    await a.replica.apply([makeRecord(key, a.node.hlc.now(), null)], 'client');
    await b.replica.apply([a.replica.get(key)!], 'client');
    const failed = await a.ae.runNow().catch(() => []);
    assert.ok(
      failed.some((e) => e.result === 'failed'),
      'the session with the down replica fails',
    );
    await a.ae.purgeOnce();
    await b.ae.purgeOnce();
    assert.ok(
      a.replica.get(key) !== undefined && b.replica.get(key) !== undefined,
      'a down replica blocks purging',
    );
    assert.equal(
      a.ae.status().watermark.clusterMs === null ||
        a.ae.status().watermark.clusterMs! < a.replica.get(key)!.version.ms,
      true,
    );

    await h.restart(2);
    // Rounds of sessions: the first carries the tombstone to n3, later ones spread everyone's watermark.
    await eventually(
      async () => {
        for (const m of h.members) await m.ae.runNow().catch(() => []);
        for (const m of h.members) await m.ae.purgeOnce();
        return h.members.every((m) => m.replica.get(key) === undefined);
      },
      20_000,
      'the tombstone to be purged everywhere',
    );
    // A late replication message carrying the old value is refused by the purge bound; sessions do not revive
    // it.
    for (const m of h.members) {
      const reply = decodeJson(await m.node.handleInternal('replicate', encodeRecords([old]), 'n1')) as {
        refused: number;
      };
      assert.equal(reply.refused, 1, `${m.id} refuses a record older than its purge bound`);
    }
    for (const m of h.members) await m.ae.runNow().catch(() => []);
    assert.ok(
      h.members.every((m) => m.replica.get(key) === undefined),
      'the key never reappears',
    );
    assert.ok(old.version.ms < a.ae.status().watermark.purgeBeforeMs!, 'the purge bound is shown in status');
  } finally {
    await h.close();
  }
});

test('a hint replayed while tombstones are being purged cannot bring the deleted value back', async () => {
  // Found by the simulator: the purge bound used to rise only after the purge had committed, and a hint
  // carrying the old value slipped in between.
  const h = await harness(2, 0);
  try {
    const [a, b] = h.members as [Member, Member];
    const key = keyToBytes('raced');
    const old = makeRecord(key, a.node.hlc.now(), text('old'));
    await a.replica.apply([old], 'client');
    await a.replica.apply([makeRecord(key, a.node.hlc.now(), null)], 'client');
    const deletedMs = a.replica.get(key)!.version.ms;
    await eventually(
      async () => {
        await a.ae.runNow();
        await b.ae.runNow();
        return (a.ae.watermark.purgeBeforeMs(0) ?? 0) > deletedMs;
      },
      5000,
      'a session that began after the delete, on both sides',
    );
    const purging = a.ae.purgeOnce();
    const reply = decodeJson(await a.node.handleInternal('hint', encodeRecords([old]), 'n2')) as {
      refused: number;
    };
    assert.equal(await purging, 1, 'the tombstone is purged');
    assert.equal(reply.refused, 1, 'the hint is refused by the purge bound');
    assert.equal(a.replica.get(key), undefined, 'the key stays deleted');
  } finally {
    await h.close();
  }
});

test('a tombstone a peer pushes after this node purged it is not written again', async () => {
  const h = await harness(2, 0);
  try {
    const [a, b] = h.members as [Member, Member];
    const key = keyToBytes('purged-here');
    await a.replica.apply([makeRecord(key, a.node.hlc.now(), text('v'))], 'client');
    await a.replica.apply([makeRecord(key, a.node.hlc.now(), null)], 'client');
    const tombstone = a.replica.get(key)!;
    await eventually(
      async () => {
        await a.ae.runNow();
        await b.ae.runNow();
        return (b.ae.watermark.purgeBeforeMs(0) ?? 0) > tombstone.version.ms;
      },
      5000,
      'a session that began after the delete, on both sides',
    );
    // b purges; a, whose purge tick has not come, still holds the tombstone and pushes it.
    assert.equal(await b.ae.purgeOnce(), 1, 'b purges the tombstone');
    assert.equal(b.replica.get(key), undefined);
    const reply = decodePushResponse(
      await b.node.handleInternal('ae/msg', encodePushRequest([tombstone]), 'n1'),
    );
    assert.deepEqual(reply, { applied: 0, ignored: 1 }, 'the pushed tombstone is ignored');
    await a.ae.runNow();
    assert.equal(b.replica.get(key), undefined, 'a session pushing it does not bring it back either');
    assert.equal(
      b.replica.stats().bySource['anti-entropy'] ?? 0,
      1,
      'b applied only the tombstone itself, once',
    );
    await a.ae.purgeOnce();
    await a.ae.runNow();
    assert.deepEqual(roots(h)[0], roots(h)[1], 'once a purges too, the replicas are equal');
  } finally {
    await h.close();
  }
});

test('peers take turns repairing a replica that fell behind: a busy node refuses a second session, which is not recorded and moves nothing once its turn comes', async () => {
  const h = await harness(3);
  try {
    const [a, b, c] = h.members as [Member, Member, Member];
    const n = 3000;
    for (let k = 0; k < n; k++) {
      const record = makeRecord(keyToBytes(`behind${k}`), a.node.hlc.now(), text(`v${k}`));
      await a.replica.apply([record], 'client');
      await b.replica.apply([record], 'client');
    }
    // A slow throttle keeps n1's session with n3 running while n2 asks.
    a.ae.setThrottle({ recordsPerSecondMax: 500 });
    const first = a.ae.runNow('n3');
    await eventually(
      () => (a.ae.runner.progress('n3')?.keysPushed ?? 0) > 0,
      10_000,
      'n1 to be repairing n3',
    );
    await assert.rejects(
      b.ae.runner.run('n3', new AbortController().signal),
      (err: { code?: string }) => err.code === 'CONFLICT',
      'n3 is busy with n1: the scheduler is told to try later',
    );
    assert.ok(
      !b.ae.status().history.some((e) => e.peer === 'n3'),
      'a session the peer refused to begin is not recorded',
    );
    const waited = b.ae.runNow('n3');
    a.ae.setThrottle({ recordsPerSecondMax: 1_000_000 });
    const [fromA] = await first;
    const [fromB] = await waited;
    assert.equal(fromA?.keysPushed, n, 'n1 repaired n3');
    assert.equal(fromB?.result, 'converged', `n2 ran its session after n1's: ${fromB?.error}`);
    assert.equal(fromB?.keysPushed, 0, 'nothing was sent to n3 twice');
    assert.equal(c.replica.stats().ignored, 0, 'n3 merged no duplicate');
    assert.ok(allEqual(roots(h)));
  } finally {
    await h.close();
  }
});

test('tiny rounds and repair batches still repair exactly what differs: every key once, a second session moves nothing', async () => {
  // Rounds of at most 512 bytes each way (initiator and responder) and batches of 7 records: many messages.
  const h = await harness(2, 0, quietIntervalMs, { roundBytesMax: 512, repairBatchRecordsMax: 7 });
  try {
    const [a, b] = h.members as [Member, Member];
    const n = 600;
    for (let k = 0; k < n; k++) {
      // A third only on a, a third only on b, a third newer on a.
      const key = keyToBytes(`tiny${k}`);
      const old = makeRecord(key, a.node.hlc.now(), text(`old${k}`));
      const fresh = makeRecord(key, a.node.hlc.now(), k % 5 === 0 ? null : text(`new${k}`));
      if (k % 3 === 0) await a.replica.apply([fresh], 'client');
      else if (k % 3 === 1) await b.replica.apply([old], 'client');
      else {
        await b.replica.apply([old], 'client');
        await a.replica.apply([fresh], 'client');
      }
    }
    const [entry] = await a.ae.runNow('n2');
    assert.equal(entry?.result, 'repaired', `${entry?.error}`);
    assert.equal(entry.keysPushed, 400, 'only-on-a and newer-on-a keys, each pushed once');
    assert.equal(entry.keysPulled, 200, 'only-on-b keys, each pulled once');
    assert.ok(allEqual(roots(h)));
    assert.equal(b.replica.stats().ignored + a.replica.stats().ignored, 0, 'no record was sent twice');
    const [again] = await a.ae.runNow('n2');
    assert.equal(again?.result, 'converged');
    assert.equal(again.keysPulled + again.keysPushed, 0);
  } finally {
    await h.close();
  }
});

test('a session takes the symbol path for a small difference and records it; an empty replica takes the tree', async () => {
  const h = await harness(3);
  try {
    const [a, b, c] = h.members as [Member, Member, Member];
    const base = Array.from({ length: 500 }, (_, k) =>
      makeRecord(keyToBytes(`s${k}`), a.node.hlc.now(), text('v')),
    );
    await a.replica.apply(base, 'client');
    await b.replica.apply(base, 'client');
    for (let k = 0; k < 6; k++)
      await a.replica.apply([makeRecord(keyToBytes(`s${k}`), a.node.hlc.now(), text('new'))], 'client');
    await b.replica.apply([makeRecord(keyToBytes('only-b'), a.node.hlc.now(), text('b'))], 'client');
    // `converge diff` finds the same seven keys the same way, and writes nothing.
    const preview = await a.ae.preview('n2', 100);
    assert.equal(preview.discovery, 'symbols');
    assert.equal(preview.divergent, 7);
    assert.deepEqual(preview.entries.map((e) => `${e.key} ${e.direction}`).sort(), [
      'only-b pull',
      ...Array.from({ length: 6 }, (_, k) => `s${k} push`),
    ]);
    assert.notEqual(a.replica.digest.rootHex(), b.replica.digest.rootHex());
    const [entry] = await a.ae.runNow('n2');
    assert.equal(entry?.discovery?.path, 'symbols', JSON.stringify(entry?.discovery));
    assert.equal(entry?.roundTrips, 1, 'one round trip finds seven differing keys');
    assert.equal(entry?.keysPushed, 6);
    assert.equal(entry?.keysPulled, 1);
    assert.equal(a.replica.digest.rootHex(), b.replica.digest.rootHex());
    const [again] = await a.ae.runNow('n2');
    assert.equal(again?.result, 'converged');
    assert.equal(again?.discovery?.path, 'symbols');
    // An empty replica fetches whole ranges through the descent's bulk path.
    assert.equal((await c.ae.preview('n1', 10)).discovery, 'tree');
    const [bulk] = await c.ae.runNow('n1');
    assert.equal(bulk?.discovery?.path, 'tree', JSON.stringify(bulk?.discovery));
    assert.ok(allEqual(roots(h)));
  } finally {
    await h.close();
  }
});

test('a membership streaming session is not held back by sessionsMax: it runs while repair holds the only slot', async () => {
  const h = await harness(3);
  try {
    const [a, b, c] = h.members as [Member, Member, Member];
    const n = 3000;
    for (let k = 0; k < n; k++) {
      const record = makeRecord(keyToBytes(`stream${k}`), a.node.hlc.now(), text(`v${k}`));
      await a.replica.apply([record], 'client');
      await b.replica.apply([record], 'client');
    }
    // A very slow throttle keeps n1's repair session with n3 running (sessionsMax 1 on n3) for a minute.
    a.ae.setThrottle({ recordsPerSecondMax: 50 });
    const repairing = a.ae.runNow('n3');
    await eventually(
      () => (a.ae.runner.progress('n3')?.keysPushed ?? 0) > 0,
      10_000,
      'n1 to be repairing n3',
    );
    // n3 streams the whole ring (one partition) from n2 meanwhile: neither side makes it wait its turn.
    const streamed = await c.ae.runStreaming('n2', [0], 1);
    assert.ok(
      streamed.result === 'repaired' || streamed.result === 'converged',
      `the streaming session ran: ${streamed.result} ${streamed.error}`,
    );
    assert.equal(streamed.streaming, true);
    assert.ok(streamed.keysPulled > 0, 'n3 pulled the records n1 had not pushed yet');
    assert.ok(a.ae.runner.progress('n3') !== null, "n1's repair session was still running meanwhile");
    a.ae.setThrottle({ recordsPerSecondMax: 1_000_000 });
    await repairing;
    assert.ok(allEqual(roots(h)));
  } finally {
    await h.close();
  }
});
