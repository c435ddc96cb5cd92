// `serve --join URL` (and `--replace DEAD`): before the node's graph is built, it asks a member to make it a
// member (that member begins the change and drives it) and starts from the record it answers.

import type { HttpTransport } from '../cluster/http-transport.js';
import { membershipRoutes } from '../cluster/membership-service.js';
import type { NodeConfig } from '../config/config.js';

/** The transport's name for the member a join goes through (not an id a node may have: ids have no `@`). */
const joinPeer = '@join';

/** The URL other members reach this node at: --advertise, else the scheme and --listen address. */
export function selfUrlOf(config: NodeConfig): string {
  if (config.membership.advertise !== null) return config.membership.advertise;
  const scheme = config.tls.certFile === null ? 'http' : 'https';
  const { host, port } = config.listen;
  return `${scheme}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

export async function joinThrough(
  transport: HttpTransport,
  addresses: Map<string, string>,
  config: NodeConfig,
  selfUrl: string,
): Promise<Uint8Array> {
  addresses.set(joinPeer, config.membership.join!);
  const body = new TextEncoder().encode(
    JSON.stringify({ id: config.id, url: selfUrl, replace: config.membership.replace }),
  );
  try {
    // The member asks every member to agree first: a few of its own request timeouts.
    return await transport.call(joinPeer, {
      route: membershipRoutes.join,
      body,
      timeoutMs: config.limits.requestTimeoutMs * 4,
    });
  } finally {
    addresses.delete(joinPeer);
  }
}
