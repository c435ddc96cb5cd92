// The deterministic simulation as part of the suite: a few hundred seeded histories of the real node code
// under partitions, loss, duplication, crashes, power losses, clock jumps, slow disks and membership changes
// (every tenth seed: a join, a decommission or a replace, sometimes interrupted) must all pass; a
// seed must replay exactly; and each planted bug must be caught within the same default seeds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replayCommand, runCampaign } from '../src/sim/campaign.js';
import { runHistory } from '../src/sim/history.js';
import { type PlantedBug, plantedBugs } from '../src/sim/planted-bugs.js';

/** The default campaign of `npm test`; CONVERGE_SIM_SEEDS runs more (or fewer) locally. */
const defaultSeeds = Number(process.env.CONVERGE_SIM_SEEDS ?? 300);

// The campaign takes about two minutes on a quiet 2-core machine and three on a busy one: its own timeout is
// wide, so a slow machine does not fail it; a hang still ends.
const campaignTimeoutMs = 900_000;

test(`${defaultSeeds} simulated histories keep every property`, { timeout: campaignTimeoutMs }, async () => {
  const summary = await runCampaign({ first: 1, seeds: defaultSeeds });
  const report = summary.failed
    .map((f) => `seed ${f.seed}: ${f.failures.join('; ')}\n  replay: ${replayCommand(f)}`)
    .join('\n');
  assert.equal(summary.failed.length, 0, report);
  assert.equal(summary.histories, defaultSeeds);
  console.log(
    `# ${summary.histories} histories, ${summary.historiesPerSecond.toFixed(1)} histories/s, slowest convergence ${summary.convergedAfterMsMax.toFixed(0)} ms after the heal`,
  );
});

test('a seed replays the same history, event for event', async () => {
  const a = await runHistory(11);
  const b = await runHistory(11);
  assert.ok(a.events > 1000, 'the history did something');
  assert.deepEqual(b.trace, a.trace);
  assert.equal(b.events, a.events);
  assert.equal(b.signature, a.signature);
  const other = await runHistory(12);
  assert.notEqual(other.signature, a.signature, 'another seed is another history');
});

test('a membership history (a join, interrupted) replays the same history', async () => {
  const a = await runHistory(7);
  const b = await runHistory(7);
  assert.match(a.trace[0]!, /a join \(interrupted\)/);
  assert.ok(
    a.trace.some((line) => /membership: the change has finished/.test(line)),
    'the join finished',
  );
  assert.equal(b.signature, a.signature);
  assert.deepEqual(b.trace, a.trace);
});

// Seeds outside the default campaign that once failed, replayed as they are: 1027 (a membership history) had
// a node whose clock went back 33 s restart while isolated and acknowledge a write stamped under the purge
// bound of its key's partition, behind a delete already purged; anti-entropy spread it (docs/simulation.md).
// 1257 (a replace history) had a full disk fail a write while earlier ones were still reaching the slow
// disk: the digest, rebuilt at once, said it was ready and then missed those writes as they landed.
const regressionSeeds = [1027, 1257, 47];

test(`seeds that once failed keep every property: ${regressionSeeds.join(', ')}`, async () => {
  for (const seed of regressionSeeds) {
    const result = await runHistory(seed);
    assert.ok(result.ok, `seed ${seed}: ${result.failures.join('; ')}`);
  }
});

for (const bug of plantedBugs.filter((b): b is Exclude<PlantedBug, 'none'> => b !== 'none')) {
  test(`the planted bug ${bug} fails a history within the default seeds`, async () => {
    const summary = await runCampaign({
      first: 1,
      seeds: defaultSeeds,
      plantedBug: bug,
      stopOnFailure: true,
    });
    assert.equal(summary.failed.length, 1, `no history among ${defaultSeeds} seeds caught ${bug}`);
    const failure = summary.failed[0]!;
    assert.match(
      failure.failures.join('\n'),
      /lost write|resurrected|stamped \d+ ms ahead|of partition \d+ it does not hold|left the ring still holding/,
      'caught as a lost write, a resurrection, a record stamped in the future or a copy kept after a move',
    );
    assert.match(replayCommand(failure), new RegExp(`--seed ${failure.seed} --planted-bug ${bug}`));
  });
}
