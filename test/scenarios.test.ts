// Every scenario of `converge demo --scenario NAME` runs to its own successful check on a real cluster, and
// narrates in the project's vocabulary; the demo command itself exits 0 after one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runScenario, scenarioNames, scenarioSettings } from '../src/cli/scenarios.js';
import { cli, randomBasePort, startCluster } from './helpers.js';

const vocabulary: Record<string, RegExp[]> = {
  partition: [/partition/, /digest/, /anti-entropy/, /session/, /converged/],
  'no-anti-entropy': [/silent/, /divergent/, /anti-entropy/],
  'sync-all': [/consistency all/, /503 wrote to 2 of 3 replicas \(all needs 3\); unreachable: n3/, /consistency one/],
  'dropped-writes': [/lost/, /divergent keys/, /anti-entropy/],
  tombstones: [/tombstone/, /watermark/, /resurrection/, /purged/],
};

for (const name of scenarioNames) {
  test(`scenario ${name} shows what it claims`, async () => {
    const cluster = await startCluster({ settings: scenarioSettings(name) });
    const lines: string[] = [];
    try {
      const ok = await runScenario(name, cluster, (line) => lines.push(line));
      const text = lines.join('\n');
      assert.equal(ok, true, text);
      assert.match(text, /✓ /);
      for (const re of vocabulary[name] ?? []) assert.match(text, re, `${name} narration mentions ${re}`);
    } finally {
      await cluster.close();
    }
  });
}

test('converge demo --scenario partition exits 0 and prints its check', async () => {
  const res = await cli(['demo', '--scenario', 'partition', '--base-port', String(randomBasePort())]);
  assert.equal(res.code, 0, res.stderr + res.stdout);
  assert.match(res.stdout, /✓ the replicas drifted during the partition and converged after it/);
  const unknown = await cli(['demo', '--scenario', 'nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^converge: unknown scenario "nope"; choose one of partition, no-anti-entropy, sync-all, dropped-writes, tombstones/);
});
