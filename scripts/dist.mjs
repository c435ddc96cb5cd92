// The bundled CLI in dist/: how it is built and when it may run. A checkout whose sources changed after the
// last build must run its sources, so the bundle counts only while it is newer than every file it was built
// from.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where the bundle goes, relative to the package root. */
export const distFile = join('dist', 'converge.mjs');

/** What the bundle is built from: a change to any of these makes it stale. */
const sources = ['src', 'web', 'package.json'];

/** True when dist/converge.mjs exists and no source file is newer. */
export function distIsFresh(root) {
  let built;
  try {
    built = statSync(join(root, distFile)).mtimeMs;
  } catch {
    return false;
  }
  return sources.every((s) => newestMtimeMs(join(root, s)) <= built);
}

function newestMtimeMs(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, name)));
  return newest;
}

/**
 * Bundles src/cli/main.ts into dist/converge.mjs, and the repair worker thread's module beside it
 * (dist/repair-worker-thread.mjs): our own modules in each, every package left to node_modules. Loading them
 * skips compiling the TypeScript at each start.
 */
export async function buildDist(root) {
  const { build } = await import('esbuild');
  await build({
    absWorkingDir: root,
    entryPoints: {
      converge: 'src/cli/main.ts',
      'repair-worker-thread': 'src/antientropy/repair-worker-thread.ts',
    },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}
