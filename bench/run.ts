// `npm run bench -- NAME [--json] [options]`: runs bench/NAME.ts. Every benchmark prints a readable table
// and, with --json, one JSON object per measured case on its own line.

const benches = ['reconcile', 'write', 'converge', 'ring', 'join'] as const;
const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !(benches as readonly string[]).includes(name)) {
  process.stderr.write(`usage: npm run bench -- ${benches.join('|')} [--json] [--quick]\n`);
  process.exit(2);
}
const mod = (await import(`./${name}.ts`)) as { run(args: string[]): Promise<void> };
await mod.run(rest);
process.exit(0);
