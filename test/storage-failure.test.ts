// A full disk under a real node (loopback transport, memory storage that fills up on command): writes fail
// with DISK_FULL, never "unreachable" naming the node itself; reads go on; hints and anti-entropy stand
// aside; and writes succeed again by themselves once space is freed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { type AntiEntropyProcess, createAntiEntropy } from '../src/antientropy/process.js';
import { eventually } from '../src/cluster/cluster-test-helpers.js';
import { TransportFaults } from '../src/cluster/faults.js';
import { LoopbackNetwork } from '../src/cluster/loopback-transport.js';
import { type ConvergeNode, createNode } from '../src/cluster/node.js';
import { ConvergeError } from '../src/core/errors.js';
import { seededRandom } from '../src/core/random.js';
import { keyToBytes } from '../src/core/record.js';
import { openReplica } from '../src/replica/replica.js';
import { systemClock, systemTimers } from '../src/runtime/system.js';
import { FillableStorage } from '../src/storage/fillable.js';
import { GuardedStorage } from '../src/storage/guarded.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
/**
 * Long enough that the checks made while the disk is full all fall in one refusal window (they take ~0.1 s).
 */
const retryMs = 2000;

interface Member {
  readonly node: ConvergeNode;
  readonly disk: FillableStorage;
  readonly storage: GuardedStorage;
  readonly faults: TransportFaults;
  readonly ae: AntiEntropyProcess;
}

async function cluster(size: number): Promise<{ members: Member[]; close(): Promise<void> }> {
  const network = new LoopbackNetwork();
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const peers = ids.map((id) => ({ id, url: `loopback://${id}` }));
  const members: Member[] = [];
  for (const [i, id] of ids.entries()) {
    const disk = new FillableStorage();
    const storage = new GuardedStorage(disk, { now: () => Date.now(), retryMs });
    const replica = await openReplica({ id, storage, leafBits: 8 });
    await replica.whenDigestReady();
    const faults = new TransportFaults(seededRandom(i + 1));
    const transport = network.transport(id, faults);
    const node = createNode({
      id,
      peers,
      replica,
      transport,
      clock: systemClock,
      random: seededRandom(10 + i),
      timers: systemTimers,
      tickMs: 20,
      limits: { requestTimeoutMs: 500 },
    });
    const ae = createAntiEntropy({
      node,
      replica,
      transport,
      peers: ids.filter((p) => p !== id),
      clock: systemClock,
      random: seededRandom(20 + i),
      timers: systemTimers,
      registry: new Registry(),
      intervalMs: 50,
      enabled: true,
    });
    network.register(id, (route, body, from) => node.handleInternal(route, body, from));
    node.start();
    ae.start();
    members.push({ node, disk, storage, faults, ae });
  }
  return {
    members,
    async close() {
      for (const m of members) {
        await m.ae.stop();
        await m.node.close();
      }
    },
  };
}

test('a full disk fails writes with DISK_FULL, keeps reads, hints and anti-entropy wait, and it recovers alone', async () => {
  const c = await cluster(3);
  try {
    const [a, b] = c.members as [Member, Member, Member];
    await a.node.put('before', text('1'), 'all');
    a.disk.full = true;

    const err = await a.node.put('x', text('2'), 'all').catch((e: unknown) => e);
    assert.ok(err instanceof ConvergeError, String(err));
    assert.equal(err.code, 'DISK_FULL');
    assert.equal(err.httpStatus, 507);
    assert.doesNotMatch(err.message, /unreachable: [^;]*n1/, 'the node does not call itself unreachable');
    assert.match(err.message, /storage failed on n1: DISK_FULL/);
    assert.deepEqual(err.details?.storageFailed, ['n1']);
    assert.deepEqual(err.details?.unreachable, []);

    // The node stays up: reads are served, and it says what is wrong.
    assert.equal(Buffer.from((await a.node.get('before', 'one')).value!).toString(), '1');
    const st = a.node.status().storage;
    assert.equal(st?.state, 'failing');
    assert.equal(st?.code, 'DISK_FULL');

    // A write coordinated elsewhere names the full replica's storage, not a lost peer, and is hinted for
    // later.
    const viaB = await b.node.put('y', text('3'), 'all').catch((e: unknown) => e);
    assert.ok(viaB instanceof ConvergeError);
    assert.equal(viaB.code, 'UNAVAILABLE');
    assert.match(viaB.message, /unreachable: none; storage failed on n1: DISK_FULL/);
    assert.equal(b.node.status().hints.pending, 1);

    // Meanwhile the full node stores no hint of its own (a peer cut off) and begins no session.
    a.faults.block('n3');
    const commitsBefore = a.disk.commits;
    const sessionsBefore = a.ae.status().history.filter((h) => h.initiator === 'n1').length;
    await a.node.put('z', text('4'), 'one'); // n2 acknowledges it
    assert.equal(a.node.status().hints.pending, 0);
    await new Promise((resolve) => setTimeout(resolve, 200)); // several anti-entropy intervals (50 ms)
    assert.equal(a.disk.commits - commitsBefore, 0, 'no commit is tried while the storage refuses');
    assert.equal(a.ae.status().history.filter((h) => h.initiator === 'n1').length, sessionsBefore);
    a.faults.healAll();

    // Space freed: writes succeed again by themselves, and the hint held by n2 arrives.
    a.disk.full = false;
    await eventually(
      async () =>
        await a.node.put('after', text('5'), 'all').then(
          () => true,
          () => false,
        ),
      retryMs + 5000,
      'a write to succeed again',
    );
    assert.equal(a.node.status().storage?.state, 'ok');
    assert.equal(a.node.status().storage?.recoveries, 1);
    await eventually(
      () => a.node.ctx.replica.get(keyToBytes('y')) !== undefined,
      5000,
      'the hint to be replayed',
    );
    await eventually(
      () => a.node.ctx.replica.get(keyToBytes('z')) !== undefined,
      5000,
      'anti-entropy to repair z',
    );
  } finally {
    await c.close();
  }
});
