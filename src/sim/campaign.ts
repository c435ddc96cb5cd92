// Many histories in a row: seeds first, first+1, ... Reports each history as it ends and a summary with
// histories per second. Stops at the first failure when asked (the test of planted bugs does).

import { type HistoryOptions, type HistoryResult, runHistory } from './history.js';

export interface CampaignOptions extends HistoryOptions {
  readonly first: number;
  readonly seeds: number;
  readonly stopOnFailure?: boolean;
}

export interface CampaignSummary {
  readonly histories: number;
  readonly failed: readonly HistoryResult[];
  readonly seconds: number;
  readonly historiesPerSecond: number;
  readonly eventsPerSecond: number;
  readonly virtualSeconds: number;
  /** Slowest convergence after the heal, in virtual milliseconds. */
  readonly convergedAfterMsMax: number;
}

export async function runCampaign(
  options: CampaignOptions,
  onHistory: (result: HistoryResult, done: number) => void = () => {},
): Promise<CampaignSummary> {
  const started = performance.now();
  const failed: HistoryResult[] = [];
  let events = 0;
  let virtualMs = 0;
  let convergedMax = 0;
  let histories = 0;
  for (let seed = options.first; seed < options.first + options.seeds; seed++) {
    const result = await runHistory(seed, options);
    histories += 1;
    events += result.events;
    virtualMs += result.virtualMs;
    convergedMax = Math.max(convergedMax, result.convergedAfterMs ?? 0);
    if (!result.ok) failed.push(result);
    onHistory(result, histories);
    if (!result.ok && options.stopOnFailure) break;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    histories,
    failed,
    seconds,
    historiesPerSecond: histories / seconds,
    eventsPerSecond: events / seconds,
    virtualSeconds: virtualMs / 1000,
    convergedAfterMsMax: convergedMax,
  };
}

/** The one line that replays a history. */
export function replayCommand(result: HistoryResult): string {
  const bug = result.config.plantedBug === 'none' ? '' : ` --planted-bug ${result.config.plantedBug}`;
  return `npm run sim -- --seed ${result.seed}${bug} --trace`;
}
