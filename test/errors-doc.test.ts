// Every error code of the registry is documented in docs/errors.md with its HTTP status.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCodes } from '../src/core/errors.js';

test('docs/errors.md lists every error code with its HTTP status', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, status] of Object.entries(errorCodes)) {
    assert.match(
      doc,
      new RegExp(`\\| \`${code}\` \\| ${status} \\|`),
      `${code} (${status}) is missing from docs/errors.md`,
    );
  }
  const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(errorCodes).sort(), 'no stale codes in the doc');
});
