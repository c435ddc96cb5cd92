// Starts serve-worker.ts from the TypeScript sources: a worker thread does not inherit tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./serve-worker.ts', import.meta.url).href);
