// Builds the dashboard (web/) into memory with esbuild when the first node of a process starts, so a fresh
// clone needs no build step and nothing is fetched from the network. One build per process: the nodes of
// `converge demo` share it.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface DashboardBundle {
  readonly html: string;
  readonly js: string;
  readonly css: string;
  /** Short content hash, used to make asset URLs cacheable. */
  readonly etag: string;
}

/**
 * web/ at the package root, seen from this module as its sources lie (src/server/dashboard/) or as bundled
 * into dist/converge.mjs.
 */
const webDir =
  ['../../../web/', '../web/']
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
    .find((dir) => existsSync(join(dir, 'main.ts'))) ??
  fileURLToPath(new URL('../../../web/', import.meta.url));

let cached: Promise<DashboardBundle> | undefined;

/** The bundle, built once per process; a failed build is retried on the next call. */
export function dashboardBundle(): Promise<DashboardBundle> {
  if (cached === undefined) {
    cached = buildBundle();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}

async function buildBundle(): Promise<DashboardBundle> {
  const result = await build({
    entryPoints: [`${webDir}main.ts`],
    bundle: true,
    write: false,
    outdir: '/dashboard',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    logLevel: 'silent',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const css = result.outputFiles.find((f) => f.path.endsWith('.css'));
  if (js === undefined || css === undefined) throw new Error('dashboard bundle lacks its js or css output');
  const etag = js.hash.slice(0, 10) + css.hash.slice(0, 6);
  const template = await readFile(`${webDir}index.html`, 'utf8');
  const html = template.replaceAll('{{version}}', encodeURIComponent(etag));
  return { html, js: js.text, css: css.text, etag };
}
