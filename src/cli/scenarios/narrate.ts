// Narration for the demo scenarios: numbered steps with a pause between them (a keypress or a fixed pace, so
// a learner can watch the dashboard), and the figures the text states, recorded under a name so a test can
// hold every stated number against the cluster's state.

export type Say = (line: string) => void;
/** Waits between two steps; resolves at once when the scenario runs unpaced. */
export type Pace = () => Promise<void>;

export const unpaced: Pace = async () => {};

export class Narrator {
  private step = 0;
  /** Every number the narration stated, by name (see figure()). */
  readonly figures: Record<string, number> = {};

  constructor(
    readonly say: Say,
    private readonly pace: Pace = unpaced,
  ) {}

  title(text: string): void {
    this.say('');
    this.say(`━━ ${text} ━━`);
  }

  /** A new step; from the second on, it waits for the pace first, so the last step's evidence can be read. */
  async next(text: string): Promise<void> {
    if (this.step > 0) await this.pace();
    this.step += 1;
    this.say('');
    this.say(`${this.step}. ${text}`);
  }

  detail(text: string): void {
    this.say(`   ${text}`);
  }

  /** Records a stated number under `name` and returns it as the text shows it. */
  figure(name: string, value: number): string {
    this.figures[name] = value;
    return value.toLocaleString('en-US');
  }

  check(ok: boolean, claim: string): boolean {
    this.say('');
    this.say(ok ? `✓ ${claim}` : `✗ expected: ${claim}`);
    return ok;
  }
}

/** "1 key", "2 keys". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}
