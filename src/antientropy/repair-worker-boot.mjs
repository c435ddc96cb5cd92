// Starts repair-worker-thread.ts from the TypeScript sources: a worker thread does not inherit tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./repair-worker-thread.ts', import.meta.url).href);
