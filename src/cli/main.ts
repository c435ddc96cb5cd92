// The `converge` command. The only place that may call process.exit: every failure becomes one line on
// stderr (`converge: reason`) and a non-zero exit code; commander's own usage errors take the same form.

import { Command, CommanderError } from 'commander';
import { registerAntiEntropyCommands } from './antientropy.js';
import { closeClients } from './client.js';
import { registerClock } from './clock.js';
import { registerKv } from './kv.js';
import { registerMembership } from './membership.js';
import { endQuietlyOnClosedPipe, failureLine, usageLine } from './output.js';
import { registerDemo, registerServe } from './serve.js';
import { registerSim } from './sim.js';
import { registerStatus } from './status.js';

const program = new Command();
program
  .name('converge')
  .description('a replicated key-value store whose centrepiece is anti-entropy')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(usageLine(text)) });

registerServe(program);
registerDemo(program);
registerKv(program);
registerStatus(program);
registerAntiEntropyCommands(program);
registerSim(program);
endQuietlyOnClosedPipe();
registerClock(program);
registerMembership(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  await closeClients();
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0; usage errors were already printed (usageLine).
    process.exit(err.exitCode);
  }
  process.stderr.write(failureLine(err));
  process.exit(1);
}
