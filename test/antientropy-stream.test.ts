// The streaming fast path of a membership change's session (src/antientropy/stream-session.ts) over the
// loopback transport and memory storage: it copies in pages without overwriting newer versions the new owner
// already holds, falls back to the ordinary session when the source does not speak it, and resumes after a
// crash from the last page it applied; and a whole join over loopback HTTP takes it. Every wait is a condition
// with a deadline.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { type AntiEntropyProcess, createAntiEntropy } from '../src/antientropy/process.js';
import type { SessionLimits } from '../src/antientropy/session-env.js';
import type { FastPathNote } from '../src/antientropy/types.js';
import { eventually } from '../src/cluster/cluster-test-helpers.js';
import { LoopbackNetwork } from '../src/cluster/loopback-transport.js';
import { type ConvergeNode, createNode } from '../src/cluster/node.js';
import type { Transport } from '../src/cluster/transport.js';
import { beginJoin } from '../src/core/membership.js';
import { seededRandom } from '../src/core/random.js';
import { keyToBytes, makeRecord } from '../src/core/record.js';
import { peekType } from '../src/core/wire.js';
import { decodeStreamRequest, StreamMessageType, type StreamRequest } from '../src/core/wire-stream.js';
import { type LocalReplica, openReplica } from '../src/replica/replica.js';
import { systemClock, systemTimers } from '../src/runtime/system.js';
import { createMemoryStorage, type MemoryStorage } from '../src/storage/memory.js';
import { startCluster } from './helpers.js';
import {
  assertReadable,
  fast,
  membership,
  settings,
  settled,
  writeKeys,
  writeLoad,
} from './membership-harness.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const ids = ['n1', 'n2', 'n3'];

interface Member {
  readonly id: string;
  readonly storage: MemoryStorage;
  node: ConvergeNode;
  replica: LocalReplica;
  ae: AntiEntropyProcess;
}

/** Three members on a loopback network; each one's limits, and the stream requests each one sent. */
class Cluster {
  readonly network = new LoopbackNetwork();
  readonly members: Member[] = [];
  readonly sent = new Map<string, StreamRequest[]>();

  constructor(private readonly limitsOf: (id: string) => Partial<SessionLimits>) {}

  static async start(limitsOf: (id: string) => Partial<SessionLimits>): Promise<Cluster> {
    const c = new Cluster(limitsOf);
    for (const id of ids) {
      const storage = createMemoryStorage();
      c.members.push({ id, storage, ...(await c.boot(id, storage)) });
    }
    return c;
  }

  private recording(id: string, inner: Transport): Transport {
    return {
      ...inner,
      call: (peer, req) => {
        if (req.route === 'ae/msg' && peekType(req.body) === StreamMessageType.streamRequest) {
          this.sent.set(id, [...(this.sent.get(id) ?? []), decodeStreamRequest(req.body)]);
        }
        return inner.call(peer, req);
      },
    };
  }

  private async boot(id: string, storage: MemoryStorage) {
    const seed = 100 + ids.indexOf(id);
    const replica = await openReplica({ id, storage, leafBits: 8 });
    await replica.whenDigestReady();
    const node = createNode({
      id,
      peers: ids.map((p) => ({ id: p, url: `loopback://${p}` })),
      replica,
      transport: this.network.transport(id),
      clock: systemClock,
      random: seededRandom(seed),
      timers: systemTimers,
      mechanisms: { hints: false, readRepair: false, antiEntropy: true },
      tickMs: 20,
      limits: { requestTimeoutMs: 5_000 },
    });
    const ae = createAntiEntropy({
      node,
      replica,
      transport: this.recording(id, this.network.transport(id)),
      peers: ids.filter((p) => p !== id),
      clock: systemClock,
      random: seededRandom(seed + 1),
      timers: systemTimers,
      registry: new Registry(),
      // Scheduled sessions stay out of the way: the tests run the streaming sessions themselves.
      intervalMs: 600_000,
      enabled: true,
      tombstoneGraceMs: 0,
      limits: this.limitsOf(id),
    });
    this.network.register(id, (route, body, from) => node.handleInternal(route, body, from));
    node.start();
    ae.start();
    return { node, replica, ae };
  }

  member(id: string): Member {
    return this.members[ids.indexOf(id)]!;
  }

  /** Stops a member's node and process; its storage survives, like a killed process's disk. */
  async crash(id: string): Promise<void> {
    const m = this.member(id);
    this.network.unregister(id);
    await m.ae.stop();
    await m.node.close();
  }

  async restart(id: string): Promise<void> {
    const m = this.member(id);
    Object.assign(m, await this.boot(id, m.storage));
  }

  async close(): Promise<void> {
    for (const id of ids) await this.crash(id);
  }
}

/** Writes `n` keys to the sources n1 and n2 (the ring's current owners, n3 being the new one). */
async function load(c: Cluster, n: number): Promise<void> {
  const hlc = c.member('n1').node.hlc;
  for (let k = 0; k < n; k += 500) {
    const batch = Array.from({ length: Math.min(500, n - k) }, (_, i) =>
      makeRecord(keyToBytes(`s${k + i}`), hlc.now(), text(`old${k + i}`)),
    );
    await c.member('n1').replica.apply(batch, 'client');
    await c.member('n2').replica.apply(batch, 'client');
  }
}

const everyPartition = (m: Member): number[] =>
  Array.from({ length: m.ae.topology.current.partitions }, (_, p) => p);

const value = (m: Member, key: string): string | null => {
  const r = m.replica.get(keyToBytes(key));
  return r === undefined ? 'missing' : r.tombstone ? null : Buffer.from(r.value!).toString();
};

test('a streaming session copies in pages and keeps the newer versions and deletes the new owner already has', async () => {
  const c = await Cluster.start(() => ({ streamPageRecordsMax: 200, streamPagesInFlightMax: 3 }));
  try {
    const n = 3000;
    await load(c, n);
    // Client writes reach the new owner during a join too: newer values, and deletes, of some keys.
    const n3 = c.member('n3');
    for (let k = 0; k < 200; k++) {
      const hlc = n3.node.hlc;
      const r = makeRecord(keyToBytes(`s${k}`), hlc.now(), k % 2 === 0 ? text(`new${k}`) : null);
      await n3.replica.apply([r], 'client');
    }
    const entry = await n3.ae.runStreaming('n2', everyPartition(n3), 1);
    assert.equal(entry.result, 'repaired', `${entry.result}: ${entry.error}`);
    assert.ok(entry.fastPath !== undefined, 'the session took the fast path');
    assert.equal(entry.fastPath.fallback, undefined);
    assert.ok(entry.fastPath.pages >= n / 200, `pages of at most 200 records: ${entry.fastPath.pages}`);
    assert.ok(entry.fastPath.records >= n, `every record of the source came: ${entry.fastPath.records}`);
    assert.ok(c.sent.get('n3')!.every((r) => r.recordsMax === 200));
    for (let k = 0; k < n; k += 7) {
      const want = k >= 200 ? `old${k}` : k % 2 === 0 ? `new${k}` : null;
      assert.equal(value(n3, `s${k}`), want, `s${k} on the new owner`);
    }
    // The session's reconciliation after the copy pushed the newer versions back to the source.
    const n2 = c.member('n2');
    assert.equal(n2.replica.digest.rootHex(), n3.replica.digest.rootHex());
    assert.equal(value(n2, 's0'), 'new0');
  } finally {
    await c.close();
  }
});

test('a source that does not speak the fast path answers PROTOCOL_INVALID: the session falls back and still fills the new owner', async () => {
  // n2 has the fast path off: it answers a stream request as a node that does not know it.
  const c = await Cluster.start((id) => ({ streamPageRecordsMax: id === 'n2' ? 0 : 500 }));
  try {
    await load(c, 1500);
    const n3 = c.member('n3');
    const entry = await n3.ae.runStreaming('n2', everyPartition(n3), 1);
    assert.equal(entry.result, 'repaired', `${entry.result}: ${entry.error}`);
    assert.match(entry.fastPath?.fallback ?? '', /refused the streaming fast path/);
    assert.equal(entry.fastPath?.records, 0);
    assert.equal(n3.replica.digest.count(), 1500, 'the ordinary session brought every record');
    assert.equal(n3.replica.digest.rootHex(), c.member('n2').replica.digest.rootHex());
  } finally {
    await c.close();
  }
});

test('a new owner killed mid-stream resumes after the last page it applied, and ends with every record', async () => {
  // Small pages at 2,000 records/s: the copy takes seconds, long enough to crash it part-way.
  const c = await Cluster.start(() => ({
    streamPageRecordsMax: 100,
    streamPagesInFlightMax: 2,
    streamRecordsPerSecondMax: 2000,
  }));
  try {
    const n = 6000;
    await load(c, n);
    const n3 = c.member('n3');
    const partitions = everyPartition(n3);
    let firstError: unknown;
    void n3.ae.runStreaming('n1', partitions, 1).catch((e: unknown) => {
      firstError = e;
    });
    const streamed = (): number => {
      const s = n3.ae.state.checkpoint('n1', true)?.stream as { records?: number } | undefined;
      return s?.records ?? 0;
    };
    await eventually(() => firstError !== undefined || streamed() >= 1000, 30_000, 'part of the copy');
    assert.equal(firstError, undefined);
    await c.crash('n3');
    const before = streamed();
    assert.ok(before > 0 && before < n, `a checkpoint part-way: ${before} records`);
    c.sent.delete('n3');
    await c.restart('n3');
    const entry = await c.member('n3').ae.runStreaming('n1', partitions, 1);
    assert.equal(entry.result, 'repaired', `${entry.result}: ${entry.error}`);
    assert.ok(entry.resumed, 'the session after the restart continues the checkpointed one');
    // The restarted node asks for what it lacked only: no chain starts again from its first partition.
    const first = c.sent.get('n3')!;
    assert.ok(first.length > 0, 'it streamed after the restart');
    const fresh = first.filter((r) => r.after === undefined && r.ranges[0]!.index === 0);
    assert.equal(fresh.length, 0, 'no page asked again from the start of the ring');
    assert.ok(entry.fastPath!.records >= n, `the copy completed: ${entry.fastPath!.records}`);
    assert.equal(c.member('n3').replica.digest.count(), n);
    assert.equal(c.member('n3').replica.digest.rootHex(), c.member('n1').replica.digest.rootHex());
    assert.equal(c.member('n3').ae.state.checkpoint('n1', true), undefined, 'a finished session leaves none');
  } finally {
    await c.close();
  }
});

test('a 4th node joins over loopback HTTP through the fast path: every key on its final owners, writes during the join kept', async () => {
  const cluster = await startCluster({ nodes: 4, settings });
  try {
    const m = membership(cluster, ['n1', 'n2', 'n3']);
    const base = await writeKeys(cluster, ['n1', 'n2', 'n3'], 'base', 3000);
    const load = writeLoad(cluster, ['n1', 'n2', 'n3'], 'load');
    // n4's history keeps the last 200 sessions, and ordinary sessions run every 300 ms: watched all along.
    const copied = new Map<string, FastPathNote>();
    const watch = setInterval(() => {
      for (const h of cluster.node('n4').ctx.antiEntropy!.status().history)
        if (h.fastPath !== undefined && h.fastPath.records > 0) copied.set(h.id, h.fastPath);
    }, 50);
    m.begin(beginJoin(m.state, 'n4'));
    const driver = m.driver('n1', fast);
    driver.start();
    try {
      await eventually(() => m.state.change === null, 180_000, 'the join to finish');
    } finally {
      clearInterval(watch);
      await driver.stop();
    }
    const { acked } = await load.stop();
    assert.ok(acked.length > 0, 'the load wrote during the join');
    await settled(cluster, m, ['n1', 'n2', 'n3', 'n4']);
    assert.ok(copied.size > 0, 'n4 copied partitions through the fast path');
    assert.ok([...copied.values()].every((f) => f.fallback === undefined));
    await assertReadable(cluster, 'n4', [...base, ...acked]);
  } finally {
    await cluster.close();
  }
});
