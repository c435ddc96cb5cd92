// Real implementations of the injected world (clock, randomness, timers).
export * from './system.js';
