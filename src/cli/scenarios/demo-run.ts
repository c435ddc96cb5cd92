// `converge demo --scenario NAME`: tells the story at the chosen pace on the running demo cluster, then
// either ends (--exit, with the story's check as the exit code) or leaves the cluster up on its final state,
// so the dashboard and the CLI can be tried on it until Ctrl-C.

import type { LocalCluster } from '../cluster.js';
import { runScenario } from '../scenarios.js';
import { makePace, paceMode } from './pace.js';

export interface DemoScenarioOptions {
  readonly scenario: string;
  readonly pace?: string | undefined;
  readonly exit: boolean;
}

/** Runs the story; answers whether its check held. Leaves the cluster running either way. */
export async function runDemoScenario(cluster: LocalCluster, o: DemoScenarioOptions): Promise<boolean> {
  const write = (s: string): void => void process.stdout.write(s);
  const mode = paceMode({
    pace: o.pace,
    exit: o.exit,
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
  });
  const first = cluster.url(cluster.configs[0]!.id);
  if (mode.kind === 'key')
    write(`\nOpen the dashboard (${first}/) beside this terminal: each step waits for a key.\n`);
  if (mode.kind === 'timed') write(`\nOpen the dashboard (${first}/): a step every ${mode.ms} ms.\n`);
  const report = await runScenario(o.scenario, cluster, (line) => write(`${line}\n`), makePace(mode, write));
  if (!o.exit) {
    write(
      `\nThe cluster stays up on this final state. Look around:\n` +
        `  dashboard: ${first}/\n  converge status --node ${first}\n` +
        `Ctrl-C stops the cluster and removes its data.\n`,
    );
  }
  return report.ok;
}
