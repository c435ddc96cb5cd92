// How a command gets its client (src/client): the node from --node, the cluster's CA from --ca or
// CONVERGE_TLS_CA, a client token from --token-file, CONVERGE_TOKEN_FILE or CONVERGE_TOKEN (never from a flag
// value, which would show in `ps`), and the per-request timeout from --timeout.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Client, clientDefaults } from '../client/index.js';
import { parseDuration } from '../config/parse.js';

export class CliError extends Error {}

export interface ClientFlags {
  readonly node?: unknown;
  readonly ca?: unknown;
  readonly tokenFile?: unknown;
  readonly timeout?: unknown;
}

/** Clients made for the running command; closed once it is done so that no socket keeps the process up. */
const open: Client[] = [];

/** Adds --ca, --token-file and --timeout to a command that talks to a node. */
export function withClientOptions(command: Command): Command {
  return command
    .option('--ca <file>', 'CA certificate (PEM) to trust for https:// nodes (or set CONVERGE_TLS_CA)')
    .option(
      '--token-file <file>',
      'file holding a client token (or set CONVERGE_TOKEN_FILE or CONVERGE_TOKEN)',
    )
    .option(
      '--timeout <duration>',
      'give up on a node that has not answered within this',
      `${clientDefaults.timeoutMs / 1000}s`,
    )
    .hook('postAction', closeClients);
}

/** The client for --node (or `node`), configured from the command's flags and the environment. */
export function clientFor(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env, node?: string): Client {
  const url = node ?? (typeof flags.node === 'string' ? flags.node : undefined);
  if (url === undefined) throw new CliError('--node is required');
  const caFile = typeof flags.ca === 'string' ? flags.ca : env.CONVERGE_TLS_CA || undefined;
  const ca =
    caFile === undefined
      ? undefined
      : readClientFile(typeof flags.ca === 'string' ? '--ca' : 'CONVERGE_TLS_CA', caFile);
  const token = tokenOf(flags, env);
  const timeoutMs =
    typeof flags.timeout === 'string' ? parseDuration('--timeout', flags.timeout) : clientDefaults.timeoutMs;
  const client = new Client({
    url,
    timeoutMs,
    ...(ca === undefined ? {} : { ca }),
    ...(token === undefined ? {} : { token }),
  });
  open.push(client);
  return client;
}

function tokenOf(flags: ClientFlags, env: NodeJS.ProcessEnv): string | undefined {
  const fromFlag = typeof flags.tokenFile === 'string';
  const tokenFile = fromFlag ? (flags.tokenFile as string) : env.CONVERGE_TOKEN_FILE || undefined;
  const token =
    tokenFile !== undefined
      ? readClientFile(fromFlag ? '--token-file' : 'CONVERGE_TOKEN_FILE', tokenFile)
          .toString('utf8')
          .trim()
      : env.CONVERGE_TOKEN?.trim() || undefined;
  if (token !== undefined && (token === '' || /\s/.test(token))) {
    throw new CliError(`the client token from ${tokenFile ?? 'CONVERGE_TOKEN'} must be one word`);
  }
  return token;
}

function readClientFile(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`${option} ${file}: ${(err as Error).message}`);
  }
}

export async function closeClients(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.close()));
}
