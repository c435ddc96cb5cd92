// Prints the golden format cases, or with --write stores them in test/fixtures/golden.json. Write only for an
// intended format change: the golden test exists to make every other change to those bytes fail.

import { writeFileSync } from 'node:fs';
import { goldenCases, goldenPath } from '../test/fixtures/golden-cases.js';

const json = `${JSON.stringify(goldenCases(), null, 2)}\n`;
if (process.argv.includes('--write')) {
  writeFileSync(goldenPath, json);
  console.log(`wrote ${goldenPath.pathname}`);
} else process.stdout.write(json);
