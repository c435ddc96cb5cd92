// Every scenario of `converge demo --scenario NAME` runs to its own successful check on a real cluster,
// narrates in the project's vocabulary, and states only numbers that agree with each other and with the
// cluster's state after the run. The command keeps the cluster up after the story unless --exit.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { Narrator } from '../src/cli/scenarios/narrate.js';
import { paceMode } from '../src/cli/scenarios/pace.js';
import { runScenario, scenarioNames, scenarioSettings } from '../src/cli/scenarios.js';
import { replicationRoute } from '../src/cluster/replication-channel.js';
import { cli, eventually, http, randomBasePort, startCluster } from './helpers.js';

const vocabulary: Record<string, RegExp[]> = {
  partition: [/partition/, /digest/, /anti-entropy/, /session/, /stale/],
  'no-anti-entropy': [/silent/, /divergent/, /anti-entropy/, /not found, no error/],
  'sync-all': [
    /consistency all/,
    /503 wrote to [12] of 3 replicas \(all needs 3\); unreachable: (n2, )?n3/,
    /consistency one/,
    /median/,
  ],
  'dropped-writes': [/lost/, /divergent keys/, /anti-entropy/, /injected loss/],
  tombstones: [/tombstone/, /watermark/, /resurrection/, /purged/],
  join: [/partition \d+: n\d,n\d,n\d → /, /pending/, /n4 holds it too/, /streamed/, /cleanup grace/],
};

type Figures = Readonly<Record<string, number>>;

function fig(f: Figures, name: string): number {
  const v = f[name];
  assert.equal(typeof v, 'number', `the narration states ${name}`);
  return v!;
}

/** Relations every story's figures must satisfy, and their agreement with the cluster it leaves behind. */
function checkAgainstCluster(name: string, f: Figures, cluster: LocalCluster): void {
  const ids = cluster.configs.map((c) => c.id);
  for (const id of ids) {
    const keys = cluster.node(id).ctx.replica.digest.count();
    for (const label of ['heal.after', 'final']) {
      const stated = f[`${label}.${id}.keys`];
      if (stated !== undefined)
        assert.equal(stated, keys, `${name}: ${label}.${id}.keys against ${id}'s replica`);
    }
    const lacked = f[`heal.lacked.${id}`];
    if (lacked !== undefined) {
      // Exactly the copies a replica lacked arrived, by anti-entropy or by replication still on its way.
      assert.equal(
        fig(f, `heal.applied.${id}`) + (f[`heal.late.${id}`] ?? 0),
        lacked,
        `${name}: ${id} repaired`,
      );
      assert.ok(
        fig(f, `heal.applied.${id}`) <=
          cluster.node(id).ctx.replica.appliedFrom('anti-entropy') +
            cluster.node(id).ctx.replica.appliedFrom('bulk'),
      );
    }
  }
  const applied = ids.reduce((s, id) => s + (f[`heal.applied.${id}`] ?? 0), 0);
  if (f['heal.moved'] !== undefined)
    assert.ok(applied <= fig(f, 'heal.moved'), `${name}: applied ${applied} <= sent`);
  if (f['burst.acknowledged'] === undefined) return;
  // A burst of fresh keys through n1: what each replica holds adds up from what reached it and how.
  const written = fig(f, 'burst.acknowledged');
  assert.equal(fig(f, 'held.n1'), written);
  for (const id of ids.slice(1)) {
    const received = f[`received.${id}`];
    if (received !== undefined) {
      const lost = (f[`loss.${id}.injected`] ?? 0) + (f[`loss.${id}.other`] ?? 0);
      assert.equal(received + lost, written, `${name}: ${id} received + lost`);
      assert.equal(
        fig(f, `held.${id}`),
        received + (f[`meanwhile.${id}`] ?? 0),
        `${name}: ${id} holds what reached it`,
      );
    }
    if (f[`drift.${id}.keys`] !== undefined)
      assert.equal(f[`drift.${id}.keys`], f[`held.${id}`], `${name}: drift of ${id}`);
    if (f[`heal.lacked.${id}`] !== undefined)
      assert.equal(fig(f, `heal.lacked.${id}`), written - fig(f, `held.${id}`));
  }
  // Replication travels in messages of many writes: the messages the narration says were dropped are the
  // messages the fault injection dropped.
  const dropped = ids
    .slice(1)
    .reduce((s, id) => s + cluster.node('n1').ctx.faults.randomlyDropped(replicationRoute, id), 0);
  const messages = ids.slice(1).reduce((s, id) => s + (f[`loss.${id}.messages`] ?? 0), 0);
  assert.equal(messages, dropped, `${name}: the injected loss stated is the loss counted`);
}

const specific: Record<string, (f: Figures) => void> = {
  'no-anti-entropy': (f) => {
    assert.equal(fig(f, 'quiet.sessions'), 0);
    assert.equal(fig(f, 'silent.n3.keys'), 0);
    assert.equal(fig(f, 'quiet.n3.keys'), 0);
  },
  'sync-all': (f) => {
    assert.equal(fig(f, 'orders.acknowledged'), 20);
    assert.equal(fig(f, 'final.keys'), fig(f, 'orders.acknowledged') + 1, 'the orders and the 503 write');
  },
  'dropped-writes': (f) => assert.ok((f['loss.n2.injected'] ?? 0) + (f['loss.n3.injected'] ?? 0) > 0),
  tombstones: (f) => {
    assert.equal(fig(f, 'purged.before'), 0);
    assert.ok(fig(f, 'purged.after') >= 1);
  },
  join: (f) => {
    assert.ok(fig(f, 'moves') > 0);
    assert.equal(fig(f, 'misplaced'), 0);
    assert.equal(fig(f, 'missing'), 0);
    const dropped = ['n1', 'n2', 'n3'].reduce((a, id) => a + fig(f, `cleanup.${id}`), 0);
    assert.ok(dropped > 0, 'the old owners dropped what moved away');
  },
};

for (const name of scenarioNames) {
  test(`scenario ${name} shows what it claims, with numbers that agree with the cluster`, async () => {
    const cluster = await startCluster({ settings: scenarioSettings(name) });
    const lines: string[] = [];
    try {
      const report = await runScenario(name, cluster, (line) => lines.push(line));
      const text = lines.join('\n');
      assert.equal(report.ok, true, text);
      assert.match(text, /✓ /);
      for (const re of vocabulary[name] ?? []) assert.match(text, re, `${name} narration mentions ${re}`);
      for (const [k, v] of Object.entries(report.figures)) {
        assert.ok(
          text.includes(v.toLocaleString('en-US')),
          `${name}: figure ${k} = ${v} appears in the text`,
        );
      }
      checkAgainstCluster(name, report.figures, cluster);
      specific[name]?.(report.figures);
    } finally {
      await cluster.close();
    }
  });
}

test('steps wait for the pace between them, not before the first', async () => {
  let paced = 0;
  const n = new Narrator(
    () => {},
    async () => {
      paced += 1;
    },
  );
  await n.next('one');
  await n.next('two');
  await n.next('three');
  assert.equal(paced, 2);
  assert.deepEqual(paceMode({ exit: false, interactive: true }), { kind: 'key' });
  assert.deepEqual(paceMode({ exit: false, interactive: false }), { kind: 'none' });
  assert.deepEqual(paceMode({ exit: true, interactive: true }), { kind: 'none' });
  assert.deepEqual(paceMode({ pace: '2s', exit: false, interactive: true }), { kind: 'timed', ms: 2000 });
  assert.deepEqual(paceMode({ pace: '0', exit: false, interactive: true }), { kind: 'none' });
  assert.throws(
    () => paceMode({ pace: 'soon', exit: false, interactive: true }),
    /--pace: "soon" is not a duration/,
  );
});

test('converge demo --scenario partition --exit exits 0 and prints its check', async () => {
  const res = await cli([
    'demo',
    '--scenario',
    'partition',
    '--exit',
    '--base-port',
    String(randomBasePort()),
  ]);
  assert.equal(res.code, 0, res.stderr + res.stdout);
  assert.match(res.stdout, /✓ the replicas drifted during the partition/);
  assert.doesNotMatch(res.stdout, /stays up/);
  const unknown = await cli(['demo', '--scenario', 'nope']);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.stderr,
    /^converge: unknown scenario "nope"; choose one of partition, no-anti-entropy, sync-all, dropped-writes, tombstones/,
  );
  const badPace = await cli(['demo', '--scenario', 'partition', '--pace', 'soon']);
  assert.equal(badPace.code, 1);
  assert.match(badPace.stderr, /--pace: "soon" is not a duration/);
  const noStory = await cli(['demo', '--exit']);
  assert.equal(noStory.code, 1);
  assert.match(noStory.stderr, /--pace and --exit apply to a --scenario only/);
});

test('without --exit the cluster stays up on the final state until Ctrl-C', async () => {
  const base = randomBasePort();
  const child = spawn(
    process.execPath,
    ['bin/converge.js', 'demo', '--scenario', 'sync-all', '--pace', '10ms', '--base-port', String(base)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await eventually(
      () => out.includes('The cluster stays up') || child.exitCode !== null,
      120_000,
      'the story to end',
    );
    assert.match(out, /✓ /, out);
    const dataDir = /data in (\S+)/.exec(out)?.[1];
    assert.ok(dataDir !== undefined && existsSync(dataDir));
    // The final state answers: 20 orders and "balance" on the node the dashboard URL names.
    const status = await http('GET', `http://127.0.0.1:${base + 1}/status`);
    assert.equal(status.status, 200);
    assert.equal((JSON.parse(status.body) as { keys: number }).keys, 21);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(existsSync(dataDir!), false, 'Ctrl-C removes the demo data');
  } finally {
    // Ctrl-C first, so the demo removes its data; only a demo that will not stop is killed.
    if (child.exitCode === null) {
      child.kill('SIGINT');
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise((r) => setTimeout(r, 15_000, false)),
      ]);
      if (!stopped) child.kill('SIGKILL');
    }
  }
});
