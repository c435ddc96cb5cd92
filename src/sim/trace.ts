// The readable record of one history: faults, client operations and checks, each stamped with virtual
// time. A failing seed prints its tail; `--trace` prints all of it.

export class Trace {
  readonly lines: string[] = [];

  constructor(
    private readonly now: () => number,
    private readonly echo: boolean,
  ) {}

  log(what: string): void {
    const line = `${(this.now() / 1000).toFixed(3).padStart(8)}s  ${what}`;
    this.lines.push(line);
    if (this.echo) console.log(line);
  }

  tail(count: number): string[] {
    return this.lines.slice(-count);
  }
}
