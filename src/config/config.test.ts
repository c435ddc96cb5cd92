import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readConfigFile, readEnv, resolveConfig } from './config.js';
import { parseDuration, parseSize } from './parse.js';

test('configuration: flags win over environment, environment over the file, the file over defaults', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'node.json');
  writeFileSync(
    file,
    JSON.stringify({
      id: 'from-file',
      data: '/d',
      'ae-interval': '5s',
      sync: 'none',
      peers: [{ id: 'b', url: 'http://127.0.0.1:2' }],
    }),
  );
  const env = readEnv({
    CONVERGE_AE_INTERVAL: '3s',
    CONVERGE_HINTS: 'false',
    CONVERGE_CLUSTER_SECRET: 'never-a-setting',
    PATH: '/bin',
  });
  assert.equal(env['cluster-secret'], undefined, 'the cluster secret is not a config value');
  const c = resolveConfig(readConfigFile(file), env, { id: 'from-flag' });
  assert.equal(c.id, 'from-flag');
  assert.equal(c.aeIntervalMs, 3000);
  assert.equal(c.sync, 'none');
  assert.equal(c.mechanisms.hints, false);
  assert.equal(c.mechanisms.readRepair, true);
  assert.deepEqual(c.peers, [{ id: 'b', url: 'http://127.0.0.1:2' }]);
  assert.equal(c.limits.valueBytesMax, 1024 * 1024, 'defaults fill the rest');
});

test('configuration errors name the option', () => {
  const base = { id: 'a', data: '/d' };
  assert.throws(
    () => resolveConfig({ ...base, sync: 'sometimes' }),
    /--sync: "sometimes" must be one of always, group, none/,
  );
  assert.throws(
    () => resolveConfig({ ...base, peers: 'b=ftp://x' }),
    /--peers: "ftp:\/\/x" \(peer b\) is not an http/,
  );
  assert.throws(() => resolveConfig({ ...base, peers: 'b=http://x,b=http://y' }), /peer b is listed twice/);
  assert.throws(() => resolveConfig({ data: '/d' }), /--id is required/);
  assert.throws(() => resolveConfig({ ...base, listen: 'nowhere' }), /--listen: "nowhere" is not HOST:PORT/);
  assert.throws(() => resolveConfig({ ...base, id: 'bad id!' }), /--id: node id "bad id!"/);
  assert.equal(parseDuration('--x', '10m'), 600_000);
  assert.equal(parseDuration('--x', '0.5ms'), 1);
  assert.throws(
    () => parseDuration('--ae-round-busy-max', '0.2ms'),
    /--ae-round-busy-max: "0.2ms" is shorter than the smallest duration, 1ms/,
  );
  assert.equal(parseSize('--x', '64KiB'), 65_536);
  assert.equal(
    resolveConfig({ ...base, peers: 'a=http://127.0.0.1:1,b=http://127.0.0.1:2' }).peers.length,
    1,
    'the node itself is ignored in --peers',
  );
});

test('configuration: the anti-entropy session limits and the adaptive repair rate come from flags, environment or file', () => {
  const base = { id: 'a', data: '/d' };
  const defaults = resolveConfig(base);
  assert.deepEqual(defaults.aeSessions, {
    sessionsMax: 1,
    roundBytesMax: 16 * 2 ** 10,
    roundBusyMsMax: 2,
    repairBatchRecordsMax: 250,
    repairBatchesInFlightMax: 2,
    streamPageRecordsMax: 8192,
    streamPageBytesMax: 4 * 2 ** 20,
    streamPageBusyMsMax: 10,
    streamPagesInFlightMax: 3,
    streamRecordsPerSecondMax: 500_000,
  });
  assert.deepEqual(defaults.aeAdaptive, {
    enabled: false,
    loopBusyPercentTarget: 60,
    intervalMs: 200,
    recordsPerSecondMin: 1000,
  });
  const env = readEnv({ CONVERGE_AE_ADAPTIVE: 'true', CONVERGE_AE_SESSIONS_MAX: '2' });
  const c = resolveConfig({ 'ae-round-bytes-max': '64KiB', 'ae-round-busy-max': '5ms' }, env, {
    ...base,
    'ae-loop-busy-target': '40',
    'ae-repair-batch-records-max': '100',
    'ae-repair-batches-in-flight': '4',
    'ae-stream-page-records-max': '0',
    'ae-stream-page-bytes-max': '1MiB',
    'ae-stream-pages-in-flight': '2',
    'ae-stream-records-per-second': '100000',
  });
  assert.equal(c.aeAdaptive.enabled, true);
  assert.equal(c.aeAdaptive.loopBusyPercentTarget, 40);
  assert.deepEqual(c.aeSessions, {
    sessionsMax: 2,
    roundBytesMax: 65_536,
    roundBusyMsMax: 5,
    repairBatchRecordsMax: 100,
    repairBatchesInFlightMax: 4,
    streamPageRecordsMax: 0,
    streamPageBytesMax: 2 ** 20,
    streamPageBusyMsMax: 10,
    streamPagesInFlightMax: 2,
    streamRecordsPerSecondMax: 100_000,
  });
  assert.throws(
    () => resolveConfig({ ...base, 'ae-stream-page-bytes-max': '64MiB' }),
    /--ae-stream-page-bytes-max must be/,
  );
  assert.throws(
    () => resolveConfig({ ...base, 'ae-loop-busy-target': '0' }),
    /--ae-loop-busy-target: "0" must be an integer from 1 to 100/,
  );
  assert.throws(() => resolveConfig({ ...base, 'ae-sessions-max': '0' }), /--ae-sessions-max/);
  assert.throws(() => resolveConfig({ ...base, 'ae-adapt-interval': 'soon' }), /--ae-adapt-interval/);
  assert.throws(
    () => resolveConfig({ ...base, 'ae-round-busy-max': '0ms' }),
    /--ae-round-busy-max: the duration must be positive/,
  );
});

test('configuration: digest verification is paced, spaced and delayed after a start as configured', () => {
  const base = { id: 'a', data: '/d' };
  assert.deepEqual(resolveConfig(base).verification, {
    passIntervalMs: 600_000,
    recordsPerSecondMax: 20_000,
    startDelayMs: 60_000,
  });
  const env = readEnv({ CONVERGE_VERIFY_INTERVAL: '1h' });
  const c = resolveConfig({ 'verify-records-per-second': '5000' }, env, {
    ...base,
    'verify-start-delay': '5m',
  });
  assert.deepEqual(c.verification, {
    passIntervalMs: 3_600_000,
    recordsPerSecondMax: 5000,
    startDelayMs: 300_000,
  });
  assert.throws(
    () => resolveConfig({ ...base, 'verify-records-per-second': '0' }),
    /--verify-records-per-second: "0" must be an integer from 1/,
  );
  assert.throws(
    () => resolveConfig({ ...base, 'verify-interval': 'hourly' }),
    /--verify-interval: "hourly" is not a duration/,
  );
  assert.throws(
    () => resolveConfig({ ...base, 'verify-start-delay': '0s' }),
    /--verify-start-delay: the duration must be positive/,
  );
});

test('a duration without a unit is refused, wherever it comes from', () => {
  const base = { id: 'a', data: '/d' };
  assert.throws(
    () => parseDuration('--ae-interval', '5'),
    /--ae-interval: "5" has no unit: write 5ms, 5s or 5m/,
  );
  assert.throws(() => resolveConfig({ ...base, 'ae-interval': '5' }), /--ae-interval: "5" has no unit/);
  assert.throws(
    () => resolveConfig(readEnv({ CONVERGE_REQUEST_TIMEOUT: '2000' }), base),
    /--request-timeout: "2000" has no unit/,
  );
  assert.equal(parseDuration('--ae-interval', '5s'), 5000);
  assert.equal(parseDuration('--ae-interval', '1.5m'), 90_000);
});
