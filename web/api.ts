// The page talks only to the node that served it (same origin); that node fetches its peers server-side.

import type {
  ClusterDigestView,
  ClusterView,
  MechanismName,
  RepairRunView,
} from '../src/server/dashboard/types.js';
import { authHeaders, onUnauthorized } from './auth.js';

export class ApiError extends Error {}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  const body = text.length > 0 ? (JSON.parse(text) as unknown) : {};
  if (res.status === 401) onUnauthorized();
  if (!res.ok) {
    const err = (body as { error?: { message?: string } }).error;
    throw new ApiError(err?.message ?? `${res.status} ${res.statusText}`);
  }
  return body as T;
}

async function get<T>(path: string, timeoutMs: number): Promise<T> {
  const headers = authHeaders();
  return json<T>(await fetch(path, { headers, signal: AbortSignal.timeout(timeoutMs), cache: 'no-store' }));
}

async function post<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit =
    body === undefined
      ? { method: 'POST', headers: authHeaders() }
      : {
          method: 'POST',
          headers: { ...authHeaders(), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        };
  return json<T>(await fetch(path, { ...init, signal: AbortSignal.timeout(15_000) }));
}

export const api = {
  cluster: () => get<ClusterView>('/cluster', 5_000),
  digest: (level: number) => get<ClusterDigestView>(`/cluster/digest?level=${level}`, 5_000),
  antiEntropy: (node: string, action: 'run' | 'pause' | 'resume') =>
    post<unknown>(`/cluster/nodes/${encodeURIComponent(node)}/antientropy/${action}`),
  /** Cancels the session `node` runs with `peer` (or every session it began). */
  cancelSession: (node: string, peer?: string) =>
    post<{ cancelled?: string[] }>(
      `/cluster/nodes/${encodeURIComponent(node)}/antientropy/cancel${peer === undefined ? '' : `?peer=${encodeURIComponent(peer)}`}`,
    ),
  throttle: (node: string, recordsPerSecond: number) =>
    post<unknown>(
      `/cluster/nodes/${encodeURIComponent(node)}/antientropy/throttle?records=${recordsPerSecond}`,
    ),
  repairAllPairs: () => post<RepairRunView>('/cluster/repair'),
  isolate: (node: string) => post<unknown>('/demo/isolate', { node }),
  heal: () => post<unknown>('/demo/heal', {}),
  stop: (node: string) => post<unknown>('/demo/stop', { node }),
  start: (node: string) => post<unknown>('/demo/start', { node }),
  writeBurst: (count: number, node: string | undefined) =>
    post<{ written: number; failed: number }>(
      '/demo/write-burst',
      node === undefined ? { count } : { count, node },
    ),
  mechanism: (node: string | undefined, mechanism: MechanismName, enabled: boolean) =>
    post<unknown>(
      '/demo/mechanism',
      node === undefined ? { mechanism, enabled } : { node, mechanism, enabled },
    ),
};
