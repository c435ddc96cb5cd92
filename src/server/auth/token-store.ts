// The node's client tokens, reloadable without a restart: on SIGHUP and when the file changes (polled with
// fs.watchFile, which survives editors that replace the file instead of writing it in place). A file that no
// longer parses keeps the tokens in force and says why: a typo must not lock every client out, or let all in.

import { type Stats, unwatchFile, watchFile } from 'node:fs';
import { type ClientToken, loadClientTokens } from './client-auth.js';

export const clientTokensPollMsDefault = 2_000;

export interface TokenReload {
  readonly ok: boolean;
  readonly tokens: number;
  readonly error: string | null;
}

export class ClientTokenStore {
  private current: readonly ClientToken[];
  private listener: ((now: Stats, before: Stats) => void) | undefined;
  private readonly onSignal = (): void => void this.reload('SIGHUP');
  reloads = 0;
  failedReloads = 0;

  /** Reads the file once; a bad file fails the start (the caller has nothing to keep). */
  constructor(
    readonly file: string,
    private readonly onReload: (why: string, result: TokenReload) => void = () => {},
  ) {
    this.current = loadClientTokens(file);
  }

  get tokens(): readonly ClientToken[] {
    return this.current;
  }

  /** Reads the file again; on any error the tokens already in force stay. */
  reload(why: string): TokenReload {
    let result: TokenReload;
    try {
      this.current = loadClientTokens(this.file);
      this.reloads++;
      result = { ok: true, tokens: this.current.length, error: null };
    } catch (err) {
      this.failedReloads++;
      result = { ok: false, tokens: this.current.length, error: (err as Error).message };
    }
    this.onReload(why, result);
    return result;
  }

  /** Reloads on SIGHUP and when the file's size, time or inode changes (checked every pollMs). */
  watch(pollMs: number): void {
    if (this.listener !== undefined) return;
    process.on('SIGHUP', this.onSignal);
    this.listener = (now: Stats, before: Stats): void => {
      // A deleted file reads as all zeros: keep the tokens and wait for the new one.
      if (now.mtimeMs === 0 && now.ino === 0) return;
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino)
        this.reload('file changed');
    };
    watchFile(this.file, { interval: pollMs, persistent: false }, this.listener);
  }

  /** Stops watching; other nodes of the same process watching the same file keep their own listeners. */
  close(): void {
    process.off('SIGHUP', this.onSignal);
    if (this.listener !== undefined) unwatchFile(this.file, this.listener);
    this.listener = undefined;
  }
}
