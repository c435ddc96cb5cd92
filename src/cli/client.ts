// The CLI's HTTP client (undici, never the global fetch) with errors turned into one-line reasons. It trusts the
// cluster's CA (--ca or CONVERGE_TLS_CA) and sends a client token (--token-file, CONVERGE_TOKEN_FILE or
// CONVERGE_TOKEN) when one is given; a token is never taken from a flag value, which would show in `ps`.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Agent, type Dispatcher, request } from 'undici';

export class CliError extends Error {}

interface ClientSettings {
  dispatcher: Dispatcher | undefined;
  authorization: string | undefined;
}

const settings: ClientSettings = { dispatcher: undefined, authorization: undefined };

/** Adds --ca and --token-file to a command that talks to a node, and applies them before it runs. */
export function withClientOptions(command: Command): Command {
  return command
    .option('--ca <file>', 'CA certificate (PEM) to trust for https:// nodes (or set CONVERGE_TLS_CA)')
    .option('--token-file <file>', 'file holding a client token (or set CONVERGE_TOKEN_FILE or CONVERGE_TOKEN)')
    .hook('preAction', (cmd) => configureClient(cmd.opts(), process.env));
}

export function configureClient(opts: { ca?: unknown; tokenFile?: unknown }, env: NodeJS.ProcessEnv): void {
  const caFile = typeof opts.ca === 'string' ? opts.ca : env.CONVERGE_TLS_CA || undefined;
  if (caFile !== undefined) {
    const ca = readClientFile(typeof opts.ca === 'string' ? '--ca' : 'CONVERGE_TLS_CA', caFile);
    settings.dispatcher = new Agent({ connect: { ca } });
  }
  const tokenFile = typeof opts.tokenFile === 'string' ? opts.tokenFile : env.CONVERGE_TOKEN_FILE || undefined;
  const token = tokenFile !== undefined
    ? readClientFile(typeof opts.tokenFile === 'string' ? '--token-file' : 'CONVERGE_TOKEN_FILE', tokenFile).toString('utf8').trim()
    : env.CONVERGE_TOKEN?.trim() || undefined;
  if (token !== undefined) {
    if (token === '' || /\s/.test(token)) throw new CliError(`the client token from ${tokenFile ?? 'CONVERGE_TOKEN'} must be one word`);
    settings.authorization = `Bearer ${token}`;
  }
}

function readClientFile(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`${option} ${file}: ${(err as Error).message}`);
  }
}

const certificateErrors = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
]);

/** Why a request could not be made, with the likely fix for TLS mistakes. */
function unreachable(url: string, err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const origin = new URL(url).origin;
  if (code !== undefined && certificateErrors.has(code)) {
    return `cannot verify the TLS certificate of ${origin} (${code}): pass --ca FILE or set CONVERGE_TLS_CA to the cluster's CA certificate`;
  }
  if (url.startsWith('http:') && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
    return `cannot reach ${origin}: the connection was closed (${code}); if the node serves TLS, use an https:// URL`;
  }
  if (url.startsWith('https:') && (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER')) {
    return `cannot reach ${origin}: TLS handshake failed (${code}); if the node serves plain HTTP, use an http:// URL`;
  }
  return `cannot reach ${origin}: ${code ?? e.message}`;
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export async function call(method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, body?: Uint8Array, timeoutMs = 30_000): Promise<ClientResponse> {
  try {
    const headers: Record<string, string> = {
      ...(body === undefined ? {} : { 'content-type': 'application/octet-stream' }),
      ...(settings.authorization === undefined ? {} : { authorization: settings.authorization }),
    };
    const res = await request(url, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(settings.dispatcher === undefined ? {} : { dispatcher: settings.dispatcher }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
  } catch (err) {
    throw new CliError(unreachable(url, err));
  }
}

/** Parses a JSON response or throws the server's error message. */
export function json<T>(res: ClientResponse): T {
  const text = res.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`unexpected answer (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  if (res.status >= 400) throw new CliError(errorMessage(parsed, res.status));
  return parsed as T;
}

export function errorMessage(parsed: unknown, status: number): string {
  const e = (parsed as { error?: { code?: string; message?: string } }).error;
  if (e === undefined) return `HTTP ${status}`;
  const text = `${e.message ?? 'error'} (${e.code ?? status})`;
  // Which kind of token the command needs, and where it comes from (docs/security.md#roles).
  if (e.code === 'TOKEN_NOT_OPERATOR')
    return (
      `${text}: this command needs an operator token (a line "operator TOKEN NAME" in the node's ` +
      '--client-tokens-file), given with --token-file, CONVERGE_TOKEN_FILE or CONVERGE_TOKEN'
    );
  return text;
}

export function baseUrl(node: string): string {
  const url = /^https?:\/\//.test(node) ? node : `http://${node}`;
  return url.replace(/\/+$/, '');
}
