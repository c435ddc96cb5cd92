// The dashboard's operator routes on a real demo cluster (three in-process nodes, lmdb, HTTP, anti-entropy):
// the throttle and cancel forwarded to any node, a repair run across every pair with its progress, a failed
// session's reason in the history, and the demo's refusals (an unknown node, the node serving the page).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AntiEntropyStatus } from '../src/antientropy/types.js';
import type { LocalCluster } from '../src/cli/cluster.js';
import type { RepairRunView } from '../src/server/dashboard/index.js';
import { eventually, http, startCluster } from './helpers.js';

describe('dashboard operator routes on a demo cluster', () => {
  let cluster: LocalCluster;
  let base = '';
  const post = (path: string, body?: unknown) =>
    http('POST', `${base}${path}`, body === undefined ? undefined : JSON.stringify(body), {
      'content-type': 'application/json',
    });
  const ae = (id: string): AntiEntropyStatus => cluster.node(id).ctx.antiEntropy!.status();

  before(async () => {
    cluster = await startCluster({
      settings: { hints: false, 'read-repair': false, 'ae-interval': '500ms' },
    });
    base = cluster.url('n1');
  });
  after(() => cluster.close());

  test('stopping an unknown node is 404; the node serving the page refuses to stop itself', async () => {
    const unknown = await post('/demo/stop', { node: 'n9' });
    assert.equal(unknown.status, 404, unknown.body);
    assert.match(unknown.body, /"code":"PEER_UNKNOWN".*no node named n9/);
    const self = await post('/demo/stop', { node: 'n1' });
    assert.equal(self.status, 409, self.body);
    assert.match(self.body, /n1 serves this dashboard and cannot be stopped through its own API/);
    assert.equal(cluster.running.has('n1'), true);
  });

  test('a session that fails records why, and the cluster view carries it', async () => {
    await cluster.isolate('n3');
    try {
      const res = await post('/cluster/nodes/n1/antientropy/run?peer=n3');
      assert.ok(res.status === 200 || res.status === 202, res.body);
      await eventually(
        () => ae('n1').history.some((h) => h.peer === 'n3' && h.result === 'failed'),
        60_000,
        'a failed session',
      ).catch((err: unknown) => {
        const running = ae('n1').peers.map((p) => `${p.peer}: ${p.running?.phase ?? 'idle'}`);
        const last = ae('n1')
          .history.slice(0, 3)
          .map((h) => `${h.peer} ${h.result} ${h.error ?? ''}`);
        throw new Error(
          `${String(err)}; run answered ${res.status}; n1 ${running.join(', ')}; ${last.join('; ')}`,
        );
      });
      const failed = ae('n1').history.find((h) => h.peer === 'n3' && h.result === 'failed');
      assert.match(failed?.error ?? '', /n3 is unreachable/);
    } finally {
      await cluster.heal();
    }
  });

  test('the throttle is set through the serving node, and a slow session is cancelled from it', async () => {
    await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.pause()));
    // A pause starts no new session but lets a running one finish: once the throttle is down to 20 records/s,
    // a session still running (the previous test's isolation leaves repair to do) would hold the one below
    // behind it for longer than the test waits.
    await eventually(
      () =>
        [...cluster.running.values()].every((r) =>
          r.ctx.antiEntropy?.status().peers.every((p) => p.running === null),
        ),
      30_000,
      'sessions idle',
    );
    // Without hints, so that n2 lacks the burst when the session begins (replayed hints would fill it first).
    await cluster.setMechanism(undefined, 'hints', false);
    await cluster.isolate('n2');
    await cluster.writeBurst(400, 'n1');
    await cluster.heal();
    await cluster.setMechanism(undefined, 'hints', true);
    const set = await post('/cluster/nodes/n1/antientropy/throttle?records=20');
    assert.equal(set.status, 200, set.body);
    assert.equal(ae('n1').throttle.recordsPerSecondMax, 20);
    try {
      await cancelSlowSession();
    } finally {
      // Lifted even when an assertion fails, so the tests after this one are not throttled.
      await post('/cluster/nodes/n1/antientropy/throttle?records=50000');
    }
  });

  async function cancelSlowSession(): Promise<void> {
    const run = await post('/cluster/nodes/n1/antientropy/run?peer=n2');
    assert.equal(run.status, 202, 'a session throttled to 20 records/s outlasts the proxy wait');
    // Repairing, not just running: an attempt that n2 refuses (busy a moment after the heal) shows as running
    // until it is refused, and a cancel between two attempts finds nothing to cancel.
    await eventually(
      () => ae('n1').peers.some((p) => p.peer === 'n2' && p.running?.phase === 'repairing'),
      60_000,
      'the session running',
    ).catch((err: unknown) => {
      const states = [...cluster.running.values()].map((r) => {
        const st = r.ctx.antiEntropy!.status();
        const running = st.peers
          .filter((p) => p.running !== null)
          .map((p) => `${p.peer} ${p.running!.phase}`);
        return `${r.ctx.node.id}: paused ${st.paused}, running [${running.join(', ')}], last ${st.history[0]?.peer} ${st.history[0]?.result}`;
      });
      throw new Error(`${String(err)}; ${states.join('; ')}`);
    });
    const cancel = await post('/cluster/nodes/n1/antientropy/cancel?peer=n2');
    assert.equal(cancel.status, 200, cancel.body);
    // Should the session have ended first, the message says how (what it repaired, how long it ran).
    const sessions = ae('n1')
      .history.slice(0, 3)
      .map((h) => `${h.peer} ${h.result} pushed ${h.keysPushed} in ${h.durationMs} ms`);
    assert.deepEqual(
      JSON.parse(cancel.body),
      { cancelled: ['n2'] },
      `n1's last sessions: ${sessions.join('; ')}`,
    );
    await eventually(
      () => ae('n1').history.some((h) => h.result === 'cancelled'),
      60_000,
      'the session cancelled',
    );
    assert.equal(ae('n1').history.find((h) => h.result === 'cancelled')?.error, 'cancelled by an operator');
    const none = await post('/cluster/nodes/n1/antientropy/cancel?peer=n2');
    assert.deepEqual(JSON.parse(none.body), { cancelled: [] });
    const unknownPeer = await post('/cluster/nodes/n1/antientropy/cancel?peer=n9');
    assert.equal(unknownPeer.status, 404);
  }

  test('a repair run covers every pair, one at a time, and reports its progress', async () => {
    const started = await post('/cluster/repair');
    assert.equal(started.status, 202, started.body);
    const view = JSON.parse(started.body) as RepairRunView;
    assert.equal(view.total, 3);
    assert.deepEqual(
      view.pairs.map((p) => `${p.a}-${p.b}`),
      ['n1-n2', 'n1-n3', 'n2-n3'],
    );
    const again = await post('/cluster/repair');
    assert.equal(again.status, 409, 'one run at a time');
    let latest: RepairRunView | null = null;
    await eventually(
      async () => {
        latest = (JSON.parse((await http('GET', `${base}/cluster/repair`)).body) as { run: RepairRunView })
          .run;
        return latest?.endedAtMs !== null;
      },
      // Its first pair resumes the cancelled session; on a loaded machine the run has taken close to a minute.
      180_000,
      'the run to end',
    );
    const run = latest as unknown as RepairRunView;
    assert.equal(run.done, 3);
    assert.deepEqual(
      run.pairs.map((p) => p.state),
      ['done', 'done', 'done'],
      JSON.stringify(run.pairs),
    );
    // The first pair repaired what the cancelled session left: n2 lacked the 400 keys.
    assert.ok(run.pairs[0]!.keysRepaired > 0);
    const roots = [...cluster.running.values()].map((r) => r.ctx.replica.digest.rootHex());
    assert.equal(new Set(roots).size, 1, 'converged after the run');
    const clusterView = JSON.parse((await http('GET', `${base}/cluster`)).body) as {
      repairRun: RepairRunView;
    };
    assert.equal(clusterView.repairRun.done, 3);
    // Awaited: resuming writes the pause's end, and the cluster closes right after the test.
    await Promise.all([...cluster.running.values()].map((r) => r.ctx.antiEntropy?.resume()));
  });
});
