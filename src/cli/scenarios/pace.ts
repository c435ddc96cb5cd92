// How a scenario moves from one step to the next: a keypress when a person is at the terminal, a fixed pause
// with --pace, none with --exit or without a terminal (tests, scripts, pipes).

import { parseDuration } from '../../config/parse.js';
import { type Pace, unpaced } from './narrate.js';

export interface PaceOptions {
  /** The --pace flag as typed; "0" means no pause. */
  readonly pace?: string | undefined;
  readonly exit: boolean;
  readonly interactive: boolean;
}

export type PaceMode =
  | { readonly kind: 'none' }
  | { readonly kind: 'timed'; readonly ms: number }
  | { readonly kind: 'key' };

export function paceMode(o: PaceOptions): PaceMode {
  if (o.pace !== undefined) {
    if (/^0+(ms|s|m|h)?$/.test(o.pace.trim())) return { kind: 'none' };
    return { kind: 'timed', ms: parseDuration('--pace', o.pace) };
  }
  if (o.exit || !o.interactive) return { kind: 'none' };
  return { kind: 'key' };
}

const ctrlC = 0x03;

/** Waits for one key on a terminal in raw mode; Ctrl-C is passed on as SIGINT (raw mode swallows it). */
function keypress(write: (s: string) => void): Pace {
  return () =>
    new Promise<void>((resolve) => {
      const stdin = process.stdin;
      write('\n   ▸ press Enter for the next step (Ctrl-C stops the cluster)');
      stdin.setRawMode(true);
      stdin.resume();
      stdin.once('data', (data: Buffer) => {
        stdin.setRawMode(false);
        stdin.pause();
        write('\n');
        if (data[0] === ctrlC) process.kill(process.pid, 'SIGINT');
        else resolve();
      });
    });
}

export function makePace(mode: PaceMode, write: (s: string) => void): Pace {
  if (mode.kind === 'timed') return () => new Promise((resolve) => setTimeout(resolve, mode.ms));
  if (mode.kind === 'key') return keypress(write);
  return unpaced;
}
