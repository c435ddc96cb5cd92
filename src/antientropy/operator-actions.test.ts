import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { LocalReplica } from '../replica/replica.js';
import { OperatorActions, operatorActionsMax, spell } from './operator-actions.js';

/** The two metadata calls the history uses, in memory. */
function metaOnly(): LocalReplica {
  const meta = new Map<string, Uint8Array>();
  return {
    getMeta: (k: string) => meta.get(k),
    putMeta: async (k: string, v: Uint8Array) => void meta.set(k, v),
  } as unknown as LocalReplica;
}

const configured = { recordsPerSecondMax: 1000, bytesPerSecondMax: 1 << 20 };

test('operator actions: who paused, who throttled, and a warning only past warnAfterMs', () => {
  let now = 1_000_000;
  const clock = { now: () => now };
  const replica = metaOnly();
  const log = new OperatorActions(replica, clock, 60_000);
  log.record({ action: 'pause', by: 'ops-alice', params: {} });
  now += 10_000;
  log.record({ action: 'throttle', by: 'ops-bob', params: { records: '5' } });
  const slow = { ...configured, recordsPerSecondMax: 5 };
  let view = log.describe(true, slow, configured);
  assert.deepEqual(view.paused, { by: 'ops-alice', atMs: 1_000_000 });
  assert.deepEqual(view.throttled, { by: 'ops-bob', atMs: 1_010_000 });
  assert.deepEqual(view.warnings, []);
  now += 55_000;
  view = log.describe(true, slow, configured);
  assert.equal(view.warnings.length, 1, 'the pause is 65 s old, the throttle 55 s');
  assert.match(
    view.warnings[0]!,
    /^anti-entropy paused by ops-alice for 1m 5s \(since 1970-01-01T00:16:40.000Z\)/,
  );
  now += 10_000;
  assert.equal(log.describe(true, slow, configured).warnings.length, 2);
  // A throttle back at the configured rate is no longer "in force", whoever set it.
  assert.equal(log.describe(true, configured, configured).throttled, null);
  // Not paused: no pause to report, even with a pause on record.
  assert.equal(log.describe(false, configured, configured).paused, null);
  log.record({ action: 'resume', by: 'ops-carol', params: {} });
  // Paused again from elsewhere (a restart, the demo): paused, but by nobody on record.
  assert.deepEqual(log.describe(true, configured, configured).paused, { by: null, atMs: null });
  // The history is read back by the next instance (a restart).
  const again = new OperatorActions(replica, clock, 60_000);
  assert.deepEqual(
    again.all.map((e) => `${e.action} ${e.by}`),
    ['resume ops-carol', 'throttle ops-bob', 'pause ops-alice'],
  );
});

test('operator actions: the history is bounded, newest first', () => {
  let now = 0;
  const log = new OperatorActions(metaOnly(), { now: () => now++ });
  for (let i = 0; i < operatorActionsMax + 30; i++) log.record({ action: 'run', by: `t${i}`, params: {} });
  assert.equal(log.all.length, operatorActionsMax);
  assert.equal(log.all[0]?.by, `t${operatorActionsMax + 29}`);
  assert.equal(log.describe(false, configured, configured).actions.length, 20);
});

test('spell: hours and minutes, minutes and seconds, or seconds; never more than two units', () => {
  assert.equal(spell(45_000), '45s');
  assert.equal(spell(190_000), '3m 10s');
  assert.equal(spell(7_500_000), '2h 5m');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 * 24 * 3_600_000 }), (ms) => {
      assert.match(spell(ms), /^(\d+h \d+m|\d+m \d+s|\d+s)$/);
    }),
  );
});
