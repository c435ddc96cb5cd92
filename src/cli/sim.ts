// `converge sim`: runs the deterministic simulator. A campaign runs many seeds and reports histories per
// second; `--seed S` replays one history (with `--trace`, event by event). A failure prints its seed, what
// broke, the end of its trace and the one line that replays it.

import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ConvergeError } from '../core/errors.js';
import { replayCommand, runCampaign } from '../sim/campaign.js';
import type { HistoryResult } from '../sim/history.js';
import { type PlantedBug, plantedBugs } from '../sim/planted-bugs.js';
import { plural } from './output.js';

interface SimFlags {
  seeds: string;
  first: string;
  seed?: string;
  plantedBug: string;
  trace?: boolean;
  json?: boolean;
  keepGoing?: boolean;
}

const traceTailLines = 40;
const keyStoryLinesMax = 80;

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new ConvergeError('CONFIG_INVALID', `${flag} must be a whole number, got ${text}`);
  return n;
}

/** The keys a failure names (`k3 lost write: …`), whose story is worth more than the trace's tail. */
function keysOf(result: HistoryResult): Set<string> {
  const keys = new Set<string>();
  for (const f of result.failures) {
    const key = /^\S+ (\S+) (lost write|resurrected|holds)/.exec(f)?.[1];
    if (key !== undefined) keys.add(key);
  }
  return keys;
}

function report(result: HistoryResult): void {
  process.stderr.write(`\nseed ${result.seed} FAILED\n`);
  for (const f of result.failures) process.stderr.write(`  ${f}\n`);
  const keys = [...keysOf(result)].slice(0, 3);
  const story = (line: string): boolean =>
    / (fault|heal|converged|CHECK FAILED)/.test(line) ||
    keys.some((k) => line.includes(` ${k} `) || line.includes(` ${k}=`));
  const lines =
    keys.length > 0
      ? result.trace.filter(story).slice(-keyStoryLinesMax)
      : result.trace.slice(-traceTailLines);
  process.stderr.write(
    keys.length > 0
      ? `  its faults and the operations on ${keys.join(', ')}:\n`
      : `  last ${traceTailLines} lines of its trace:\n`,
  );
  for (const line of lines) process.stderr.write(`    ${line}\n`);
  process.stderr.write(`  replay: ${replayCommand(result)}\n`);
}

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description(
      'run the deterministic simulator: real node code under partitions, crashes, loss and skewed clocks',
    )
    .option('--seeds <n>', 'how many histories a campaign runs', '300')
    .option('--first <seed>', 'first seed of a campaign', '1')
    .option('--seed <seed>', 'replay one history')
    .option(
      '--planted-bug <name>',
      `plant a known bug to see the checks catch it (${plantedBugs.join(', ')})`,
      'none',
    )
    .option('--trace', 'print the trace of each history as it runs')
    .option('--json', 'one JSON line per history, then a summary line')
    .option('--keep-going', 'run every seed even after a failure')
    .action(runSim);
}

/** Runs a campaign (or the one seed of `--seed`), reporting as it goes and a summary at the end. */
async function runSim(flags: SimFlags): Promise<void> {
  if (!(plantedBugs as readonly string[]).includes(flags.plantedBug))
    throw new ConvergeError(
      'CONFIG_INVALID',
      `--planted-bug must be one of ${plantedBugs.join(', ')}, got ${flags.plantedBug}`,
    );
  const single = flags.seed !== undefined;
  const first = positiveInt(single ? flags.seed! : flags.first, single ? '--seed' : '--first');
  const seeds = single ? 1 : positiveInt(flags.seeds, '--seeds');
  const bar =
    flags.json || flags.trace || single || !process.stderr.isTTY
      ? undefined
      : new SingleBar({
          format: 'sim [{bar}] {value}/{total} histories | {rate}/s | {failed} failed | ETA {eta_formatted}',
          hideCursor: true,
          stream: process.stderr,
        });
  bar?.start(seeds, 0, { rate: '0', failed: 0 });
  const started = performance.now();
  let failedCount = 0;
  const summary = await runCampaign(
    {
      first,
      seeds,
      plantedBug: flags.plantedBug as PlantedBug,
      echo: flags.trace ?? false,
      stopOnFailure: !flags.keepGoing,
    },
    (result, done) => {
      if (!result.ok) failedCount += 1;
      const rate = (done / ((performance.now() - started) / 1000)).toFixed(1);
      bar?.update(done, { rate, failed: failedCount });
      if (flags.json) {
        const { trace: _trace, ...rest } = result;
        process.stdout.write(`${JSON.stringify(rest)}\n`);
      } else if (!bar && !single && (done % 50 === 0 || !result.ok)) {
        process.stderr.write(
          `${done}/${plural(seeds, 'history', 'histories')}, ${rate}/s, ${failedCount} failed\n`,
        );
      }
      if (!result.ok) {
        bar?.stop();
        report(result);
      }
    },
  );
  bar?.stop();
  const line = `${plural(summary.histories, 'history', 'histories')}, ${summary.failed.length} failed, ${summary.historiesPerSecond.toFixed(1)} histories/s (${Math.round(summary.eventsPerSecond)} events/s), ${summary.virtualSeconds.toFixed(0)} virtual seconds, slowest convergence ${(summary.convergedAfterMsMax / 1000).toFixed(2)} s after the heal`;
  if (flags.json)
    process.stdout.write(
      `${JSON.stringify({ summary: { ...summary, failed: summary.failed.map((f) => f.seed) } })}\n`,
    );
  else process.stdout.write(`${line}\n`);
  if (summary.failed.length > 0) process.exitCode = 1;
}
