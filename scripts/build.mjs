// `npm run build` (and `npm ci`, through `prepare`): writes the bundled CLI to dist/converge.mjs. With
// --if-stale (`npm start`) it builds only when a source is newer than the bundle, so the demo always runs
// the bundle, never the TypeScript through tsx.
import { fileURLToPath } from 'node:url';
import { buildDist, distFile, distIsFresh } from './dist.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
if (process.argv.includes('--if-stale') && distIsFresh(root)) process.exit(0);
await buildDist(root);
process.stdout.write(`built ${distFile}\n`);
