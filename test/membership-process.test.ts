// Membership changes with real `converge serve` processes on loopback: a 4th node joins a 3-node cluster
// holding 20,000 keys under a steady write load, a member is decommissioned, a killed member is replaced, and
// a joiner killed with SIGKILL mid-stream is restarted. After each: every acknowledged write readable at
// quorum, the key counts sum to RF x keys over the members, and nothing is left on a node that no longer owns
// it once the (short) cleanup grace has passed.

import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { MembersView } from '../src/cluster/membership-api.js';
import { eventually, http, randomBasePort } from './helpers.js';
import {
  assertPlaced,
  assertReadable,
  loadKeys,
  processCluster,
  writeLoad,
} from './membership-process-helpers.js';

const members = async (url: string): Promise<MembersView> =>
  (await http('GET', `${url}/cluster/members`)).json as MembersView;

/** Waits for the change in progress to finish on every given member (generous: a loaded machine). */
async function changeDone(urls: readonly string[], epochAbove: number): Promise<MembersView> {
  let seen: MembersView | undefined;
  await eventually(
    async () => {
      const views = await Promise.all(urls.map((u) => members(u).catch(() => undefined)));
      seen = views[0];
      return views.every((v) => v !== undefined && v.change === null && v.epoch > epochAbove);
    },
    240_000,
    'the change to finish on every member',
  ).catch((err: Error) => assert.fail(`${err.message}; last seen ${JSON.stringify(seen?.change)}`));
  return seen!;
}

/**
 * No quorum write fails at its first attempt while a change runs: a coordinator that has not installed the
 * latest move yet is fenced by the replicas that have (MEMBERSHIP_STALE), fetches their membership and sends
 * the write again to the owners it names, before answering the client.
 */
function firstAttempts(t: TestContext, what: string, retried: number): Promise<void> {
  return t.test(`${what}: no quorum write refused at its first attempt`, () =>
    assert.equal(retried, 0, `${retried} writes refused at their first attempt`),
  );
}

test('a 4th process joins a 3-node cluster of 20,000 keys under a write load, then one is decommissioned', async (t) => {
  const c = processCluster(randomBasePort(), 4);
  try {
    await c.startAll(['n1', 'n2', 'n3']);
    const base = await loadKeys(c.urls(['n1', 'n2', 'n3']), 'base', 20_000);
    const before = await members(c.url('n1'));
    const load = writeLoad(c.urls(['n1', 'n2', 'n3']), 'load');
    await c.start('n4', ['--join', c.url('n1')]);
    await eventually(
      async () => (await members(c.url('n1'))).change?.member === 'n4',
      30_000,
      'the join to begin',
    );
    const view = await changeDone(c.urls(['n1', 'n2', 'n3', 'n4']), before.epoch);
    const joined = await load.stop();
    t.diagnostic(`join: ${joined.acked.length} load writes, ${joined.retried} retried`);
    await firstAttempts(t, 'join', joined.retried);
    assert.equal(joined.failed, 0, `quorum writes failed during the join: ${joined.errors.join('; ')}`);
    assert.ok(joined.acked.length > 0, 'the load wrote during the join');
    assert.deepEqual(
      view.members.map((m) => [m.id, m.state]),
      ['n1', 'n2', 'n3', 'n4'].map((id) => [id, 'normal']),
    );
    const keys = [...base, ...joined.acked];
    await assertPlaced(c, ['n1', 'n2', 'n3', 'n4'], keys);
    await assertReadable(c.url('n4'), keys);

    // n2 leaves: its ranges stream to the others, then it holds nothing.
    const load2 = writeLoad(c.urls(['n1', 'n3', 'n4']), 'load2');
    const begun = await http('POST', `${c.url('n3')}/cluster/decommission?id=n2`);
    assert.equal(begun.status, 200, begun.body);
    const left = await changeDone(c.urls(['n1', 'n3', 'n4']), view.epoch);
    const during = await load2.stop();
    t.diagnostic(`second change: ${during.acked.length} load writes, ${during.retried} retried`);
    await firstAttempts(t, 'second change', during.retried);
    assert.equal(
      during.failed,
      0,
      `quorum writes failed during the decommission: ${during.errors.join('; ')}`,
    );
    assert.deepEqual(
      left.members.map((m) => m.id),
      ['n1', 'n3', 'n4'],
    );
    const all = [...keys, ...during.acked];
    await assertPlaced(c, ['n1', 'n3', 'n4'], all, ['n2']);
    await assertReadable(c.url('n1'), all);
  } finally {
    await c.close();
  }
});

test('a killed member is replaced by a new process; a joiner killed with SIGKILL mid-stream resumes', async (t) => {
  const c = processCluster(randomBasePort(), 5, ['--membership-partitions-per-session', '2']);
  try {
    await c.startAll(['n1', 'n2', 'n3']);
    const base = await loadKeys(c.urls(['n1', 'n2', 'n3']), 'base', 6000);
    const before = await members(c.url('n1'));
    // n4 joins; killed with SIGKILL once some partitions streamed and others have not.
    await c.start('n4', ['--join', c.url('n1')]);
    await eventually(
      async () => {
        const moves = (await members(c.url('n1'))).change?.partitions;
        return moves !== undefined && moves.pending > 0 && moves.pending < moves.total;
      },
      60_000,
      'some partitions streamed, others pending',
    );
    await c.kill('n4');
    const load = writeLoad(c.urls(['n1', 'n2', 'n3']), 'load');
    await c.start('n4', ['--join', c.url('n1')]);
    const view = await changeDone(c.urls(['n1', 'n2', 'n3', 'n4']), before.epoch);
    const joined = await load.stop();
    t.diagnostic(`join: ${joined.acked.length} load writes, ${joined.retried} retried`);
    await firstAttempts(t, 'join', joined.retried);
    assert.equal(joined.failed, 0, `quorum writes failed: ${joined.errors.join('; ')}`);
    assert.equal(view.members.length, 4);
    const keys = [...base, ...joined.acked];
    await assertPlaced(c, ['n1', 'n2', 'n3', 'n4'], keys);

    // n3 dies for good; n5 takes its place, streamed from the survivors; quorum writes go on meanwhile.
    await c.kill('n3');
    const load2 = writeLoad(c.urls(['n1', 'n2', 'n4']), 'load2');
    await c.start('n5', ['--join', c.url('n2'), '--replace', 'n3']);
    const replaced = await changeDone(c.urls(['n1', 'n2', 'n4', 'n5']), view.epoch);
    const during = await load2.stop();
    t.diagnostic(`second change: ${during.acked.length} load writes, ${during.retried} retried`);
    await firstAttempts(t, 'second change', during.retried);
    assert.equal(during.failed, 0, `quorum writes failed during the replace: ${during.errors.join('; ')}`);
    assert.deepEqual(
      replaced.members.map((m) => m.id),
      ['n1', 'n2', 'n4', 'n5'],
    );
    const all = [...keys, ...during.acked];
    await assertPlaced(c, ['n1', 'n2', 'n4', 'n5'], all);
    await assertReadable(c.url('n5'), all);
  } finally {
    await c.close();
  }
});
