// The package's public surface: embed a node, or use the pure core and the storage engines on their own.
export * as core from './core/index.js';
export * from './storage/index.js';
export { openReplica, LocalReplica } from './replica/index.js';
export type { Replica, ReplicaReader, ApplySource, ApplyResult } from './replica/index.js';
export { createNode, ConvergeNode, HttpTransport, LoopbackNetwork, TransportFaults } from './cluster/index.js';
export type { NodeApi, NodeStatus, Consistency, PeerConfig, Transport } from './cluster/index.js';
export { createAntiEntropy, AntiEntropyProcess } from './antientropy/index.js';
export type { AntiEntropyStatus, SessionHistoryEntry } from './antientropy/index.js';
export { startNode } from './server/server.js';
export { resolveConfig } from './config/index.js';
