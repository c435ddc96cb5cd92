import assert from 'node:assert/strict';
import { test } from 'node:test';
import { narrateReads, type UnreadableKey } from './join-reads.js';
import { Narrator } from './narrate.js';

const unreadable = (key: string, kind: UnreadableKey['kind'], code: string | null): UnreadableKey => ({
  key,
  via: 'n4',
  kind,
  code,
  message: kind === 'error' ? 'read from 1 of 3 replicas' : 'answered not found by n4, n2',
  replied: kind === 'error' ? [] : ['n4', 'n2'],
  holders: ['n2', 'n3'],
});

test('failed reads and not-found answers are counted apart, failed attempts by code', () => {
  const lines: string[] = [];
  const n = new Narrator((line) => lines.push(line));
  narrateReads(n, {
    keys: 10,
    unreadable: [unreadable('a', 'error', 'UNAVAILABLE'), unreadable('b', 'not-found', null)],
    retried: 8,
    failedAttempts: new Map([['UNAVAILABLE', 9]]),
  });
  assert.deepEqual(
    [n.figures.missing, n.figures['missing.notFound'], n.figures['missing.failed']],
    [2, 1, 1],
  );
  const text = lines.join('\n');
  assert.match(text, /UNAVAILABLE × 9/);
  assert.match(text, /“a” through n4: UNAVAILABLE: read from 1 of 3 replicas; held by n2, n3/);
  assert.match(text, /“b” through n4: answered not found by n4, n2; held by n2, n3/);
});
