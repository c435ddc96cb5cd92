// The background anti-entropy process: scheduling, sessions, checkpoints, history, watermark and purge.
export * from './types.js';
export * from './process.js';
export * from './throttle.js';
export * from './watermark.js';
export { sessionLimitsDefault } from './session-env.js';
