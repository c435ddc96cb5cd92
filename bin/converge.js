#!/usr/bin/env node
// Entry point of the `converge` command. Runs the bundle in dist/ (written by `npm run build`, and by `npm ci`
// through `prepare`) while it is newer than every source file; otherwise compiles the TypeScript as it loads
// (tsx), so an edited checkout runs what it holds. The bundle starts about twice as fast.
import { fileURLToPath } from 'node:url';
import { distIsFresh } from '../scripts/dist.mjs';

if (distIsFresh(fileURLToPath(new URL('..', import.meta.url)))) {
  await import('../dist/converge.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
