// The cluster layer: coordinator with consistency levels, hinted handoff, read repair, transports.

export * from './codec.js';
export { required } from './coordinator.js';
export * from './faults.js';
export * from './hints.js';
export * from './http-transport.js';
export * from './loopback-transport.js';
export * from './node.js';
export * from './node-context.js';
export * from './node-types.js';
export * from './transport.js';
