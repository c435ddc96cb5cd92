// The serving node's view of the cluster: its own status plus each peer's `/status`, `/antientropy` and
// digest level, fetched server-side (no CORS, one origin for the browser) with undici and a short timeout.
// A peer that does not answer in time is marked unreachable; it never delays the answer past the timeout.

import { Agent, request } from 'undici';
import type { AntiEntropyStatus } from '../../antientropy/types.js';
import type { PeerConfig } from '../../cluster/node-types.js';
import type { NodeStatus } from '../../services/status.js';
import type { ClusterNodeView, DigestLevelView, NodeMembershipView } from './types.js';

export const peerTimeoutMsDefault = 800;
/** Responses larger than this are refused: a digest level of 2^10 prefixes is about 25 KiB. */
const peerResponseBytesMax = 4 * 1024 * 1024;

export class PeerClient {
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(timeoutMs: number = peerTimeoutMsDefault, ca?: Buffer) {
    this.timeoutMs = timeoutMs;
    this.agent = new Agent({
      connections: 4,
      keepAliveTimeout: 4_000,
      connectTimeout: timeoutMs,
      ...(ca === undefined ? {} : { connect: { ca } }),
    });
  }

  /** GET a JSON document; throws on a network error, a timeout or a non-2xx answer. */
  /** `authorization`: the page's own bearer token, passed on so a node with client tokens answers. */
  async getJson(baseUrl: string, path: string, authorization?: string): Promise<unknown> {
    const res = await request(new URL(path, baseUrl), {
      method: 'GET',
      dispatcher: this.agent,
      signal: AbortSignal.timeout(this.timeoutMs),
      headers: withAuth({ accept: 'application/json' }, authorization),
    });
    return readJson(res.statusCode, res.body, `GET ${path}`);
  }

  /** POST without a body (the anti-entropy actions); answers the peer's JSON, or null for an empty body. */
  async postJson(
    baseUrl: string,
    path: string,
    timeoutMs: number,
    authorization?: string,
  ): Promise<{ statusCode: number; body: unknown }> {
    const res = await request(new URL(path, baseUrl), {
      method: 'POST',
      dispatcher: this.agent,
      signal: AbortSignal.timeout(timeoutMs),
      headers: withAuth({ accept: 'application/json' }, authorization),
    });
    const text = await res.body.text();
    return { statusCode: res.statusCode, body: text.length === 0 ? null : safeParse(text) };
  }

  /** Aborts what is in flight (a forwarded run may last minutes): a closing node does not wait for peers. */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}

async function readJson(
  statusCode: number,
  body: { text(): Promise<string> },
  what: string,
): Promise<unknown> {
  const text = await body.text();
  if (text.length > peerResponseBytesMax) throw new Error(`${what}: response over peerResponseBytesMax`);
  if (statusCode < 200 || statusCode >= 300) throw new Error(`${what} answered ${statusCode}`);
  return JSON.parse(text) as unknown;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { raw: text.slice(0, 200) };
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : err.message;
  }
  return String(err);
}

/**
 * A peer's JSON is the same software's output, but a half-started or foreign node must not break the page.
 */
function asNodeStatus(value: unknown): NodeStatus {
  const v = value as Partial<NodeStatus> | null;
  if (v === null || typeof v !== 'object' || typeof v.id !== 'string' || typeof v.digest?.root !== 'string') {
    throw new Error('malformed /status answer');
  }
  return v as NodeStatus;
}

/** A member's `/cluster/members` answer, or null when it is not one (an older node, a foreign answer). */
export function asMembership(value: unknown): NodeMembershipView | null {
  const v = value as Partial<NodeMembershipView> | null;
  if (v === null || typeof v !== 'object' || !Array.isArray(v.members) || typeof v.epoch !== 'number')
    return null;
  if (typeof v.droppedRecords?.cleanup !== 'number') return null;
  return v as NodeMembershipView;
}

export function asAntiEntropy(value: unknown): AntiEntropyStatus | null {
  const v = value as Partial<AntiEntropyStatus> | null;
  if (v === null || typeof v !== 'object' || !Array.isArray(v.peers) || !Array.isArray(v.history))
    return null;
  return v as AntiEntropyStatus;
}

function withAuth(headers: Record<string, string>, authorization?: string): Record<string, string> {
  return authorization === undefined ? headers : { ...headers, authorization };
}

export async function peerView(
  client: PeerClient,
  peer: PeerConfig,
  authorization?: string,
): Promise<ClusterNodeView> {
  const started = performance.now();
  const [status, ae, members] = await Promise.allSettled([
    client.getJson(peer.url, '/status', authorization),
    client.getJson(peer.url, '/antientropy', authorization),
    client.getJson(peer.url, '/cluster/members', authorization),
  ]);
  const latencyMs = Math.round(performance.now() - started);
  const base = { id: peer.id, url: peer.url, self: false };
  if (status.status === 'rejected') {
    return {
      ...base,
      reachable: false,
      error: describe(status.reason),
      latencyMs: null,
      status: null,
      antiEntropy: null,
      membership: null,
    };
  }
  const membership = members.status === 'fulfilled' ? asMembership(members.value) : null;
  try {
    const nodeStatus = asNodeStatus(status.value);
    const antiEntropy = ae.status === 'fulfilled' ? asAntiEntropy(ae.value) : null;
    return { ...base, reachable: true, error: null, latencyMs, status: nodeStatus, antiEntropy, membership };
  } catch (err) {
    const failed = { status: null, antiEntropy: null, membership };
    return { ...base, reachable: true, error: describe(err), latencyMs, ...failed };
  }
}

export function selfView(
  status: NodeStatus,
  antiEntropy: AntiEntropyStatus | null,
  membership: NodeMembershipView | null = null,
): ClusterNodeView {
  return {
    id: status.id,
    url: null,
    self: true,
    reachable: true,
    error: null,
    latencyMs: 0,
    status,
    antiEntropy,
    membership,
  };
}

export async function peerDigestLevel(
  client: PeerClient,
  peer: PeerConfig,
  level: number,
  authorization?: string,
): Promise<DigestLevelView> {
  const path = `/digest/level?level=${level}`;
  const value = (await client.getJson(peer.url, path, authorization)) as Partial<DigestLevelView>;
  if (typeof value?.hashes !== 'string' || !Array.isArray(value.counts) || value.level !== level) {
    throw new Error('malformed /digest/level answer');
  }
  return value as DigestLevelView;
}

export function errorText(err: unknown): string {
  return describe(err);
}
