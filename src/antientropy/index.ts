// The background anti-entropy process: scheduling, sessions, checkpoints, history, watermark and purge.

export * from './adaptive.js';
export * from './process.js';
export { sessionLimitsDefault } from './session-env.js';
export * from './throttle.js';
export * from './types.js';
export * from './watermark.js';
