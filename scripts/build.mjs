// `npm run build` (and `npm ci`, through `prepare`): writes the bundled CLI to dist/converge.mjs.
import { fileURLToPath } from 'node:url';
import { buildDist, distFile } from './dist.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
await buildDist(root);
process.stdout.write(`built ${distFile}\n`);
