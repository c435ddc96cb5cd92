// The process-wide safety net of a serving node: an unhandled promise rejection is logged with its stack and
// counted (`converge_unhandled_rejections_total`) instead of ending the process without a word. Installed by
// the CLI entry (serve, demo) only: tests and embedders keep Node's own behaviour, which fails loudly.

let unhandledRejections = 0;
let installed = false;

/** Rejections nobody handled since the guard was installed (0 when it was not). */
export function unhandledRejectionCount(): number {
  return unhandledRejections;
}

export function installProcessGuard(
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason: unknown) => {
    unhandledRejections += 1;
    const what = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
    log(`converge: ERROR: unhandled rejection #${unhandledRejections} (the node keeps running): ${what}`);
  });
}
