import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

// In a child process: the guard is process-wide, and this test process must keep Node's own behaviour.
const script = `
import { installProcessGuard, unhandledRejectionCount } from './src/server/process-guard.ts';
installProcessGuard();
void Promise.reject(new Error('lost on purpose'));
setTimeout(() => console.log('still running, counted', unhandledRejectionCount()), 50);
`;

test('the process guard logs and counts an unhandled rejection, and the process keeps running', () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(res.status, 0, res.stderr);
  assert.match(
    res.stderr,
    /converge: ERROR: unhandled rejection #1 \(the node keeps running\): Error: lost on purpose/,
  );
  assert.match(res.stdout, /still running, counted 1/);
});
