// A member's side of a membership change: the drop of a partition (records gone, digest updated, counted),
// the digests answer, a discard fencing the cancelled change's streaming, the hint drop of a replaced member,
// bad bodies refused; and a streaming session never counting as the pair's last success.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { AntiEntropyState } from '../antientropy/state.js';
import type { SessionHistoryEntry } from '../antientropy/types.js';
import { tokenOf } from '../core/hash.js';
import { seededRandom } from '../core/random.js';
import { makeRecord } from '../core/record.js';
import { Topology } from '../core/topology.js';
import { LiveTopology } from '../core/topology-describe.js';
import { openReplica } from '../replica/replica.js';
import { systemClock, systemTimers } from '../runtime/system.js';
import { createMemoryStorage } from '../storage/memory.js';
import { decodeJson, encodeJson } from './codec.js';
import { HintStore, hintLimitsDefault } from './hints.js';
import { membershipRoutes, registerMembershipRoutes, type StreamingSessions } from './membership-routes.js';
import type { InternalHandler } from './transport.js';

const enc = new TextEncoder();

async function member() {
  const replica = await openReplica({ id: 'n1', storage: createMemoryStorage(), leafBits: 8 });
  await replica.whenDigestReady();
  const topology = new LiveTopology(
    Topology.create({ members: ['n1', 'n2', 'n3'], partitions: 16, replicationFactor: 3, leafBits: 8 }),
  );
  const hints = new HintStore(replica.hintSpace(), systemClock, seededRandom(1), hintLimitsDefault, ['n2']);
  const routes = new Map<string, InternalHandler>();
  const fenced: number[] = [];
  const sessions: StreamingSessions = {
    runStreaming: async () => ({
      result: 'converged',
      error: null,
      keysPulled: 0,
      keysPushed: 0,
      resumed: false,
    }),
    cancelStreaming: async (_reason, epoch) => {
      fenced.push(epoch);
    },
  };
  const registry = new Registry();
  registerMembershipRoutes({
    router: { id: 'n1', registerInternal: (route, handler) => routes.set(route, handler) },
    replica,
    antiEntropy: sessions,
    hints,
    topology,
    registry,
    yieldNow: () => systemTimers.sleep(0),
    dropBatchRecordsMax: 7,
  });
  const call = async (route: string, body: unknown): Promise<Record<string, unknown>> =>
    decodeJson(await routes.get(route)!(route, encodeJson(body), 'n2')) as Record<string, unknown>;
  return { replica, topology, hints, call, fenced, registry };
}

test('a drop removes every record of the partitions, and only those: digest updated, counted', async () => {
  const { replica, topology, call, registry } = await member();
  const t = topology.current;
  const records = Array.from({ length: 300 }, (_, i) =>
    makeRecord(enc.encode(`key-${i}`), { ms: 1000 + i, counter: 0, node: 'n1' }, enc.encode(`v${i}`)),
  );
  await replica.apply(records, 'client');
  const partitionOf = (key: Uint8Array): number => t.partitionOf(tokenOf(key));
  const inThree = records.filter((r) => partitionOf(r.key) === 3).length;
  assert.ok(inThree > 7, 'more records than one drop batch');
  const before = (await call(membershipRoutes.digests, { partitions: [3, 4] })).digests as Record<
    string,
    string
  >;
  assert.ok(before['3']!.endsWith(`:${inThree}`));
  const answer = await call(membershipRoutes.drop, { partitions: [3], reason: 'cleanup' });
  assert.equal(answer.dropped, inThree);
  assert.equal(replica.digest.node(t.partitionBits, 3).count, 0);
  assert.equal(replica.digest.count(), 300 - inThree);
  for (const r of records) assert.equal(replica.get(r.key) === undefined, partitionOf(r.key) === 3);
  const after = (await call(membershipRoutes.digests, { partitions: [3, 4] })).digests as Record<
    string,
    string
  >;
  assert.equal(after['4'], before['4'], 'another partition is untouched');
  assert.equal(after['3'], '0000000000000000:0');
  const metric = await registry.getSingleMetric('converge_membership_dropped_records_total')!.get();
  assert.equal(metric.values.find((v) => v.labels.reason === 'cleanup')?.value, inThree);
});

test('a discard names the cancelled change and fences its streaming; malformed bodies are refused', async () => {
  const { call, fenced } = await member();
  await call(membershipRoutes.drop, { partitions: [1], reason: 'discard', epoch: 9 });
  assert.deepEqual(fenced, [9]);
  const refused = { code: 'PROTOCOL_INVALID' };
  await assert.rejects(call(membershipRoutes.drop, { partitions: [1], reason: 'discard' }), refused);
  await assert.rejects(call(membershipRoutes.drop, { partitions: [1], reason: 'later' }), refused);
  await assert.rejects(call(membershipRoutes.drop, { partitions: [16], reason: 'cleanup' }), refused);
  await assert.rejects(call(membershipRoutes.digests, { partitions: [] }), refused);
  await assert.rejects(call(membershipRoutes.stream, { source: 'n1', partitions: [1], epoch: 2 }), refused);
  await assert.rejects(call(membershipRoutes.stream, { source: 'n2', partitions: [1.5], epoch: 2 }), refused);
  await assert.rejects(call(membershipRoutes.dropHints, [1, 2]), refused);
});

test('the hints kept for a replaced member are dropped and counted as removed', async () => {
  const { hints, call } = await member();
  for (let i = 0; i < 5; i++)
    await hints.add(
      'n2',
      makeRecord(enc.encode(`h${i}`), { ms: 1, counter: i, node: 'n1' }, enc.encode('x')),
    );
  assert.equal(hints.pending('n2'), 5);
  assert.equal((await call(membershipRoutes.dropHints, { member: 'n2' })).dropped, 5);
  assert.equal(hints.pending('n2'), 0);
  assert.equal(hints.bytes(), 0);
  assert.equal(hints.counters.dropped.removed, 5);
  assert.equal((await call(membershipRoutes.dropHints, { member: 'n2' })).dropped, 0);
});

test('a streaming session is history, never the pair last success (the watermark)', async () => {
  const replica = await openReplica({ id: 'n1', storage: createMemoryStorage(), leafBits: 8 });
  const state = new AntiEntropyState(replica);
  const entry = (startedAtMs: number, streaming: boolean): SessionHistoryEntry => ({
    id: `s${startedAtMs}`,
    peer: 'n2',
    range: '1',
    initiator: 'n1',
    startedAtMs,
    endedAtMs: startedAtMs + 1,
    durationMs: 1,
    result: 'repaired',
    error: null,
    resumed: false,
    keysCompared: 0,
    keysDivergent: 0,
    keysPulled: 1,
    keysPushed: 0,
    bytesSent: 0,
    bytesReceived: 0,
    roundTrips: 1,
    ...(streaming ? { streaming: true } : {}),
  });
  await state.record(entry(100, false));
  await state.record(entry(200, true));
  assert.equal(state.peer('n2').lastSuccessStartedAtMs, 100);
  assert.equal(state.history.length, 2);
});
