// The ring panel's membership model: which node's view it shows, the driver's ETA on another member's page,
// the streaming sessions of a join's newcomer, its fill from the digest counts, and the cleanup totals.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionProgress } from '../src/antientropy/types.js';
import type {
  ClusterDigestView,
  ClusterNodeView,
  ClusterView,
  NodeMembershipView,
} from '../src/server/dashboard/index.js';
import { changeFraction, fillEstimate, membershipView } from '../web/membership-model.js';
import { convergence, incomingMembers, type PairDiff } from '../web/model.js';

const joining = {
  kind: 'join' as const,
  member: 'n4',
  replaced: null,
  sinceEpoch: 2,
  partitions: { pending: 3, streamed: 1, moved: 0, cleaned: 0, total: 4 },
};

function members(over: Partial<NodeMembershipView> = {}): NodeMembershipView {
  return {
    epoch: 2,
    partitions: 4,
    replicationFactor: 3,
    members: ['n1', 'n2', 'n3', 'n4'].map((id) => ({
      id,
      state: id === 'n4' ? ('joining' as const) : ('normal' as const),
      owned: id === 'n4' ? 0 : 4,
      ownedAfter: 3,
    })),
    change: { ...joining, etaMs: null },
    driver: 'n1',
    addresses: {},
    installedEpochs: {},
    down: [],
    streaming: true,
    stalled: [],
    droppedRecords: { cleanup: 0, discard: 0 },
    ...over,
  };
}

function running(initiator: string, peer: string, pulled: number): SessionProgress {
  return {
    id: `${initiator}-${peer}`,
    peer,
    range: '0-2',
    initiator,
    startedAtMs: 0,
    fraction: 1,
    etaMs: null,
    phase: 'repairing',
    resumed: false,
    keysCompared: 0,
    keysDivergent: 100,
    keysPulled: pulled,
    keysPushed: 0,
    bytesSent: 0,
    bytesReceived: 0,
    roundTrips: 1,
  };
}

function node(id: string, membership: NodeMembershipView | null, sessions: SessionProgress[] = []) {
  const owned: Array<[number, number]> = id === 'n4' ? [[0, 2]] : [[0, 3]];
  return {
    id,
    url: null,
    self: id === 'n2',
    reachable: true,
    error: null,
    latencyMs: 1,
    status: { id, keys: 10, ring: { epoch: 2, partitions: 4, replicationFactor: 3, members: [], owned } },
    antiEntropy: { peers: sessions.map((s) => ({ peer: s.peer, running: s })) },
    membership,
  } as unknown as ClusterNodeView;
}

function cluster(nodes: ClusterNodeView[]): ClusterView {
  return { self: 'n2', nowMs: 0, demo: null, nodes };
}

test('a join seen from a member that does not drive it: the driver ETA, the newcomer sessions', () => {
  const driver = members({
    change: { ...joining, etaMs: 4_000 },
    droppedRecords: { cleanup: 7, discard: 0 },
  });
  const c = cluster([
    node('n1', driver, [running('n1', 'n2', 50)]),
    node('n2', members()),
    node('n3', null),
    node('n4', members(), [running('n4', 'n1', 20), running('n4', 'n2', 30)]),
  ]);
  const v = membershipView(c);
  assert.ok(v !== null && v.change !== null);
  assert.equal(v.change.etaMs, 4_000, "the driver's measured ETA");
  assert.deepEqual(
    v.change.sessions.map((s) => `${s.node}<-${s.peer}:${s.pulled}/${s.divergent}`),
    ['n4<-n1:20/100', 'n4<-n2:30/100'],
    "only the newcomer's sessions are streaming ones",
  );
  assert.deepEqual(
    v.members.map((m) => [m.id, m.state, m.cleanedRecords]),
    [
      ['n1', 'normal', 7],
      ['n2', 'normal', 0],
      ['n3', 'normal', null],
      ['n4', 'joining', 0],
    ],
  );
  assert.equal(v.cleanedRecords, 7);
  assert.equal(changeFraction(v.change), 0.25);
});

test('a driver at another change gives no ETA; no membership anywhere gives no view', () => {
  const other = members({ change: { ...joining, sinceEpoch: 9, etaMs: 1 } });
  const v = membershipView(cluster([node('n1', other), node('n2', members())]));
  assert.equal(v?.change?.etaMs, null);
  assert.equal(membershipView(cluster([node('n1', null), node('n2', null)])), null);
});

test("fill: the newcomer's records in its partitions against the fullest other copy, per partition", () => {
  const level = (id: string, counts: number[]) => ({
    id,
    error: null,
    digest: { id, level: 3, leafBits: 16, ready: true, root: '', hashes: '', counts },
  });
  // Level 3 = two prefixes per partition (P 4). n4 takes partitions 0-2.
  const digest: ClusterDigestView = {
    level: 3,
    nodes: [
      level('n1', [5, 5, 4, 0, 1, 1, 9, 9]),
      level('n2', [6, 5, 3, 0, 1, 1, 9, 9]),
      level('n4', [2, 0, 1, 0, 0, 0, 0, 0]),
    ],
  };
  const c = cluster([node('n1', null), node('n2', null), node('n4', null)]);
  assert.deepEqual(fillEstimate(c, digest, 'n4'), { held: 3, target: 11 + 4 + 2 });
  assert.equal(fillEstimate(c, { ...digest, level: 1 }, 'n4'), null, 'a level coarser than the partitions');
});

function pair(a: string, b: string, keysEstimate: number): PairDiff {
  const differing = keysEstimate === 0 ? [] : [0];
  return {
    a,
    b,
    comparable: true,
    rootsEqual: keysEstimate === 0,
    differing,
    keysByPrefix: new Map(differing.map((i) => [i, keysEstimate])),
    keysEstimate,
    shared: 3,
  };
}

test("a join's streaming pairs are set apart from drift in the headline", () => {
  const during = cluster(['n1', 'n2', 'n3', 'n4'].map((id) => node(id, members())));
  assert.deepEqual([...incomingMembers(during)], ['n4']);
  // Only the newcomer's pairs differ: no drift, the streaming counted apart.
  const filling = [pair('n1', 'n2', 0), pair('n1', 'n4', 900), pair('n2', 'n4', 1_000)];
  assert.deepEqual(convergence(during, filling), {
    kind: 'diverging',
    keysEstimate: 0,
    pairs: 0,
    unreachable: [],
    streaming: { members: ['n4'], pairs: 2, keysEstimate: 1_000 },
  });
  // Old owners that differ among themselves are drift, still shown beside the streaming.
  const both = convergence(during, [pair('n1', 'n2', 3), pair('n1', 'n4', 900)]);
  assert.equal(both.kind, 'diverging');
  assert.ok(both.kind === 'diverging');
  assert.deepEqual([both.pairs, both.keysEstimate, both.streaming?.pairs], [1, 3, 1]);
  // Once the change is done, n4 is a member like the others: its pairs differing are drift.
  const settled = members({
    change: null,
    members: members().members.map((m) => ({ ...m, state: 'normal' as const })),
  });
  const after = cluster(['n1', 'n2', 'n3', 'n4'].map((id) => node(id, settled)));
  assert.equal(incomingMembers(after).size, 0);
  assert.deepEqual(convergence(after, [pair('n1', 'n4', 5)]), {
    kind: 'diverging',
    keysEstimate: 5,
    pairs: 1,
    unreachable: [],
  });
});
