// Real implementations of the injected world (clock, randomness, timers).

export * from './load-probe.js';
export * from './system.js';
