// The `converge` command. The only place that may call process.exit: every failure becomes one line on
// stderr (`converge: reason`) and a non-zero exit code.

import { Command, CommanderError } from 'commander';
import { ConvergeError } from '../core/errors.js';
import { registerKv } from './kv.js';
import { registerDemo, registerServe } from './serve.js';
import { registerStatus } from './status.js';
import { registerAntiEntropyCommands } from './antientropy.js';
import { registerSim } from './sim.js';
import { registerClock } from './clock.js';

const program = new Command();
program
  .name('converge')
  .description('a replicated key-value store whose centrepiece is anti-entropy')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) });

registerServe(program);
registerDemo(program);
registerKv(program);
registerStatus(program);
registerAntiEntropyCommands(program);
registerSim(program);
registerClock(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0; usage errors were already printed by commander.
    process.exit(err.exitCode);
  }
  const reason = err instanceof ConvergeError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`converge: ${reason.split('\n')[0]}\n`);
  process.exit(1);
}
