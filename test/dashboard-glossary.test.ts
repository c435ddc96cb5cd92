// The glossary exists twice — in the dashboard (web/glossary.ts) and in docs/glossary.md. This keeps them in
// step: every word of DESIGN.md's vocabulary is explained in both, each with a link to its panel.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { glossary, panelTitles } from '../web/glossary.js';

/** The vocabulary table of the design brief ("drift, divergence" is two words). */
const vocabulary = [
  'replica',
  'drift',
  'divergence',
  'write path',
  'consistency level',
  'hinted handoff',
  'read repair',
  'anti-entropy',
  'digest',
  'reconciliation',
  'repair',
  'session',
  'tombstone',
  'watermark',
  'convergence',
];

const docs = readFileSync(new URL('../docs/glossary.md', import.meta.url), 'utf8');

function section(term: string): string {
  const start = docs.indexOf(`\n## ${term}\n`);
  assert.ok(start >= 0, `docs/glossary.md has a "## ${term}" section`);
  const end = docs.indexOf('\n## ', start + 1);
  return docs.slice(start, end < 0 ? undefined : end);
}

test('the dashboard glossary explains every word of the vocabulary', () => {
  const terms = new Set(glossary.map((t) => t.term));
  for (const word of vocabulary) assert.ok(terms.has(word), `web/glossary.ts lacks "${word}"`);
});

test('docs/glossary.md has every dashboard term, linked to the same panels', () => {
  for (const t of glossary) {
    const text = section(t.term);
    for (const panel of t.panels) {
      assert.ok(
        text.includes(`[${panelTitles[panel]}](http://127.0.0.1:7101/#${panel})`),
        `"${t.term}" links to #${panel}`,
      );
    }
  }
});
