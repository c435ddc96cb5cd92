// The dashboard's public surface: the fastify plugin, its options and the demo controls it drives.

export type { DashboardBundle } from './bundle.js';
export { dashboardBundle } from './bundle.js';
export { writeBurstCountMax } from './demo-routes.js';
export { digestLevelMax } from './digest-level.js';
export type { DashboardOptions } from './plugin.js';
export { dashboardPlugin } from './plugin.js';
export type {
  ClusterDigestView,
  ClusterNodeView,
  ClusterView,
  DemoControls,
  DemoState,
  DigestLevelView,
  MechanismName,
  NodeMembershipView,
  RepairRunPair,
  RepairRunView,
  WriteBurstResult,
} from './types.js';
export { mechanismNames } from './types.js';
