// Narrated scenarios of `converge demo --scenario NAME` (issue 6).

import type { LocalCluster } from './cluster.js';

export const scenarioNames: string[] = [];

export async function runScenario(name: string, _cluster: LocalCluster, say: (line: string) => void): Promise<boolean> {
  say(`scenario ${name} is not available yet`);
  return false;
}
