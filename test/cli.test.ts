// The `converge` command as a user meets it, run as a child process against real nodes: bytes in and out of
// `get`, a closed pipe, what a failed write keeps, status's three verdicts and exit codes, a cluster-wide
// pause, and errors that say what to do.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalCluster } from '../src/cli/cluster.js';
import { cli, converged, eventually, randomBasePort, startCluster } from './helpers.js';

let cluster: LocalCluster;

before(async () => {
  cluster = await startCluster({
    settings: { hints: false, 'read-repair': false, 'ae-interval': '300ms', 'request-timeout': '500ms' },
  });
});
after(async () => {
  await cluster.close();
});

/** Runs the command with raw bytes on stdin and returns raw stdout. */
function cliBytes(
  args: string[],
  input: Uint8Array,
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/converge.js', ...args]);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(Buffer.from(input));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('get writes the value bytes unchanged to stdout; --json carries non-UTF-8 values as base64', async () => {
  const node = ['--node', cluster.url('n1')];
  const small = new Uint8Array([0xff, 0xfe, 0x00, 0x01]);
  const big = randomBytes(1024 * 1024);
  const [putSmall, putBig, putText] = await Promise.all([
    cliBytes(['put', 'bin-small', ...node], small),
    cliBytes(['put', 'bin-big', '-', ...node], big),
    cliBytes(['put', 'text', ...node], new TextEncoder().encode('héllo\n')),
  ]);
  for (const r of [putSmall, putBig, putText]) assert.equal(r.code, 0, r.stderr);
  const [getSmall, getBig, jsonSmall, jsonText] = await Promise.all([
    cliBytes(['get', 'bin-small', ...node], new Uint8Array()),
    cliBytes(['get', 'bin-big', ...node], new Uint8Array()),
    cli(['get', 'bin-small', ...node, '--json']),
    cli(['get', 'text', ...node, '--json']),
  ]);
  assert.deepEqual(
    [...getSmall.stdout],
    [0xff, 0xfe, 0x00, 0x01],
    'no replacement characters, no newline added',
  );
  assert.equal(getBig.stdout.length, big.length);
  assert.ok(getBig.stdout.equals(big), 'a 1 MiB random value comes back identical');
  const parsedSmall = JSON.parse(jsonSmall.stdout) as { value: string; encoding: string };
  assert.equal(parsedSmall.encoding, 'base64');
  assert.deepEqual([...Buffer.from(parsedSmall.value, 'base64')], [...small]);
  assert.deepEqual(
    {
      value: (JSON.parse(jsonText.stdout) as { value: string }).value,
      encoding: (JSON.parse(jsonText.stdout) as { encoding: string }).encoding,
    },
    { value: 'héllo\n', encoding: 'utf8' },
  );
});

test('a reader that closes the pipe early (| head -c1) ends get quietly, with exit code 0', async () => {
  await cliBytes(['put', 'pipe-big', '--node', cluster.url('n1')], randomBytes(1024 * 1024));
  const dir = mkdtempSync(join(tmpdir(), 'converge-cli-'));
  try {
    const errFile = join(dir, 'stderr');
    const script = `node bin/converge.js get pipe-big --node ${cluster.url('n1')} 2>${errFile} | head -c1 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const out = await new Promise<string>((resolve) => {
      let text = '';
      const child = spawn('bash', ['-c', script]);
      child.stdout.on('data', (d) => (text += d));
      child.on('close', () => resolve(text));
    });
    assert.equal(out.trim(), '0');
    assert.equal(readFileSync(errFile, 'utf8'), '', 'no EPIPE stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status: converged (0), unknown while a replica is down (2), divergent (1); a failed write at all says who keeps it; ae pause --all', async () => {
  const node = ['--node', cluster.url('n1')];
  await eventually(() => converged(cluster), 10_000, 'the cluster to converge');
  const ok = await cli(['status', ...node]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /\nconverged: all 3 replicas have the same digest root\n$/);

  const paused = await cli(['ae', 'pause', '--all', ...node]);
  assert.equal(paused.code, 0, paused.stderr);
  assert.equal(paused.stdout, 'n1: paused\nn2: paused\nn3: paused\n');
  for (const r of cluster.running.values()) assert.equal(r.ctx.antiEntropy!.status().paused, true);

  // n3 cut off from its peers (it still answers the command line): a write at all reaches 2 of 3.
  await cluster.isolate('n3');
  const failed = await cli(['put', 'kept', 'v', ...node, '--consistency', 'all']);
  assert.equal(failed.code, 1);
  assert.equal(
    failed.stderr,
    'converge: wrote to 2 of 3 replicas (all needs 3); unreachable: n3. Not undone: n1, n2 took the write and they keep it; hints and anti-entropy spread it to the other replicas later (UNAVAILABLE)\n',
  );
  await cluster.heal();
  const divergent = await cli(['status', ...node]);
  assert.equal(divergent.code, 1, divergent.stdout);
  assert.match(
    divergent.stdout,
    /\nDIVERGENT: 2 different digest roots among the reachable replicas \(n1 n2 \| n3\)\n$/,
  );

  await cluster.stop('n3');
  const unknown = await cli(['status', ...node, '--json']);
  assert.equal(unknown.code, 2);
  const verdict = JSON.parse(unknown.stdout) as { verdict: string; converged: boolean; reason: string };
  assert.equal(verdict.verdict, 'unknown');
  assert.equal(verdict.converged, false);
  assert.equal(
    verdict.reason,
    'UNKNOWN: n3 unreachable, so convergence cannot be told (the 2 reachable replicas agree)',
  );
  const pausedAll = await cli(['ae', 'pause', '--all', ...node]);
  assert.equal(pausedAll.code, 1, 'a node that could not be paused fails the command');
  assert.match(
    pausedAll.stdout,
    /^n1: paused\nn2: paused\nn3: FAILED: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\): is a converge node running at http:\/\/127\.0\.0\.1:\d+\?\nnot paused on 1 node: n3\n$/,
  );
  await cluster.start('n3');

  const resumed = await cli(['ae', 'resume', '--all', ...node]);
  assert.equal(resumed.stdout, 'n1: resumed\nn2: resumed\nn3: resumed\n');
  await eventually(() => converged(cluster), 20_000, 'anti-entropy to spread the write that failed at all');
  assert.equal((await cli(['get', 'kept', '--node', cluster.url('n3'), '--consistency', 'one'])).stdout, 'v');
});

test('a key not found says which replicas answered, not that it was never written', async () => {
  const res = await cli(['get', 'nowhere', '--node', cluster.url('n2'), '--consistency', 'one']);
  assert.equal(res.code, 1);
  assert.equal(
    res.stderr,
    'converge: key nowhere not found on the replicas that answered (n2) (NOT_FOUND)\n',
  );
});

test('errors say what to do: no node at the URL, a web page instead of a node, a node that never answers, usage errors', async () => {
  const closed = await listen(createServer());
  const webPage = await listen(
    createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>not converge</title>');
    }),
  );
  const silent = await listen(createServer(() => {}));
  const refusedUrl = `http://127.0.0.1:${randomBasePort() + 99}`;
  const [refused, html, hung, badOption, missing, unitless, statusDown] = await Promise.all([
    cli(['get', 'k', '--node', refusedUrl]),
    cli(['status', '--node', webPage]),
    cli(['get', 'k', '--node', silent, '--timeout', '300ms']),
    cli(['get', 'k', '--bogus']),
    cli(['put']),
    cli(['get', 'k', '--node', closed, '--timeout', '5']),
    cli(['status', '--node', refusedUrl]),
  ]);
  assert.equal(
    refused.stderr,
    `converge: cannot reach ${refusedUrl}: connection refused (ECONNREFUSED): is a converge node running at ${refusedUrl}?\n`,
  );
  assert.match(
    html.stderr,
    /^converge: http:\/\/127\.0\.0\.1:\d+ answered HTTP 200 \(text\/html\) that is not a converge node's answer: is it the URL of a converge node\? \(it began "<!doctype html><title>not converge<\/title>"\)\n$/,
  );
  assert.match(
    hung.stderr,
    /^converge: http:\/\/127\.0\.0\.1:\d+ did not answer within 300 ms \(the client's timeoutMs; --timeout on the command line\): the node may be overloaded or stuck\n$/,
  );
  assert.equal(badOption.stderr, "converge: unknown option '--bogus'\n");
  assert.equal(missing.stderr, 'converge: put needs KEY [VALUE], or --file FILE\n');
  assert.equal(unitless.stderr, 'converge: --timeout: "5" has no unit: write 5ms, 5s or 5m\n');
  for (const r of [refused, hung, badOption, missing, unitless]) assert.equal(r.code, 1);
  assert.equal(html.code, 2, 'status: its node did not answer as a node, so nothing can be told');
  assert.equal(statusDown.code, 2, 'status cannot tell anything when its node does not answer');
});

test('no temporary folder is left behind: demo on a busy port, demo with a bad setting, the config tests', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'converge-leftovers-'));
  try {
    const env = { ...process.env, TMPDIR: tmp };
    const busy = createServer();
    const base = randomBasePort();
    await new Promise<void>((resolve) => busy.listen(base + 2, '127.0.0.1', resolve));
    const [onBusyPort, badInterval, unitless] = await Promise.all([
      cli(['demo', '--base-port', String(base)], undefined, env),
      cli(['demo', '--ae-interval', '5x', '--base-port', String(base + 50)], undefined, env),
      cli(['demo', '--ae-interval', '5', '--base-port', String(base + 50)], undefined, env),
    ]);
    busy.close();
    assert.equal(onBusyPort.code, 1);
    assert.match(
      onBusyPort.stderr,
      new RegExp(
        `^converge: port ${base + 2} is in use \\(the demo needs ${base + 1}-${base + 3}\\): is another demo or node running\\? Stop it, or pass --base-port P`,
      ),
    );
    assert.equal(
      badInterval.stderr,
      'converge: --ae-interval: "5x" is not a duration (examples: 500ms, 2s, 10m)\n',
    );
    assert.equal(unitless.stderr, 'converge: --ae-interval: "5" has no unit: write 5ms, 5s or 5m\n');
    const configTests = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', 'src/config/config.test.ts'], {
        env,
        stdio: 'ignore',
      });
      child.on('close', resolve);
    });
    assert.equal(configTests, 0);
    // (tsx keeps its compile cache there too: that one is not ours.)
    assert.deepEqual(
      readdirSync(tmp).filter((name) => name.startsWith('converge-')),
      [],
      'every temporary folder was removed',
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
