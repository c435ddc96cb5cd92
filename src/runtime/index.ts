// Real implementations of the injected world (clock, randomness, timers).
export * from './system.js';
export * from './load-probe.js';
