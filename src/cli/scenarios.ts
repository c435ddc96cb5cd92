// Narrated scenarios of `converge demo --scenario NAME`: each walks through a situation where anti-entropy
// matters, on the live demo cluster (visible in the dashboard), and ends by checking its own claim. Every
// number a story states is measured in that run and recorded (Narrator.figures), so a test can hold the text
// against the cluster.

import type { RawSettings } from '../config/config.js';
import type { LocalCluster } from './cluster.js';
import { droppedWrites } from './scenarios/dropped-writes.js';
import { joinStory } from './scenarios/join.js';
import { Narrator, type Pace, type Say, unpaced } from './scenarios/narrate.js';
import { noAntiEntropy, partition } from './scenarios/partition.js';
import { syncAll } from './scenarios/sync-all.js';
import { tombstones } from './scenarios/tombstones.js';

const stories: Record<string, (n: Narrator, cluster: LocalCluster) => Promise<boolean>> = {
  partition,
  'no-anti-entropy': noAntiEntropy,
  'sync-all': syncAll,
  'dropped-writes': droppedWrites,
  tombstones,
  join: joinStory,
};

export const scenarioNames: string[] = Object.keys(stories);

/** Settings every scenario's cluster runs with: anti-entropy alone heals, quickly enough to watch. */
export function scenarioSettings(name: string): RawSettings {
  if (name === 'join') {
    // A ring of 16 partitions (a readable list of moves), a short cleanup grace and tick: watchable in a minute.
    return {
      partitions: '16',
      'replication-factor': '3',
      'ae-interval': '500ms',
      'membership-cleanup-grace': '2s',
      'membership-tick': '200ms',
    };
  }
  return {
    hints: false,
    'read-repair': false,
    'ae-interval': '500ms',
    'tombstone-grace': '1ms',
    'request-timeout': '500ms',
    // Small replication messages: a story's burst of a few hundred writes then travels in dozens of messages,
    // so a random loss of messages loses writes on every link, as the narration says, and not all or none.
    'replication-message-records-max': '10',
  };
}

export interface ScenarioReport {
  /** The story's own check held. */
  readonly ok: boolean;
  /** Every number the narration stated, by name. */
  readonly figures: Readonly<Record<string, number>>;
}

export async function runScenario(
  name: string,
  cluster: LocalCluster,
  say: Say,
  pace: Pace = unpaced,
): Promise<ScenarioReport> {
  const story = stories[name];
  if (story === undefined)
    throw new Error(`unknown scenario "${name}"; choose one of ${scenarioNames.join(', ')}`);
  const narrator = new Narrator(say, pace);
  const ok = await story(narrator, cluster);
  return { ok, figures: narrator.figures };
}
