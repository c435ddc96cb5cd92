// Narrated scenarios of `converge demo --scenario NAME`: each walks through a situation where anti-entropy
// matters, on the live demo cluster (visible in the dashboard), and ends by checking its own claim.

import type { RawSettings } from '../config/config.js';
import type { LocalCluster } from './cluster.js';
import { Narrator, type Say } from './scenarios/narrate.js';
import { droppedWrites, noAntiEntropy, partition, syncAll, tombstones } from './scenarios/stories.js';

const stories: Record<string, (n: Narrator, cluster: LocalCluster) => Promise<boolean>> = {
  partition,
  'no-anti-entropy': noAntiEntropy,
  'sync-all': syncAll,
  'dropped-writes': droppedWrites,
  tombstones,
};

export const scenarioNames: string[] = Object.keys(stories);

/** Settings every scenario's cluster runs with: anti-entropy alone heals, quickly enough to watch. */
export function scenarioSettings(_name: string): RawSettings {
  return { hints: false, 'read-repair': false, 'ae-interval': '500ms', 'tombstone-grace': '1ms', 'request-timeout': '500ms' };
}

export async function runScenario(name: string, cluster: LocalCluster, say: Say): Promise<boolean> {
  const story = stories[name];
  if (story === undefined) throw new Error(`unknown scenario "${name}"; choose one of ${scenarioNames.join(', ')}`);
  return story(new Narrator(say), cluster);
}
