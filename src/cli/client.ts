// The CLI's HTTP client (undici, never the global fetch) with errors turned into one-line reasons.

import { request } from 'undici';

export class CliError extends Error {}

export interface ClientResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export async function call(method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, body?: Uint8Array, timeoutMs = 30_000): Promise<ClientResponse> {
  try {
    const res = await request(url, {
      method,
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/octet-stream' } }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    throw new CliError(`cannot reach ${new URL(url).origin}: ${e.code ?? e.message}`);
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
  return e === undefined ? `HTTP ${status}` : `${e.message ?? 'error'} (${e.code ?? status})`;
}

export function baseUrl(node: string): string {
  const url = /^https?:\/\//.test(node) ? node : `http://${node}`;
  return url.replace(/\/+$/, '');
}
