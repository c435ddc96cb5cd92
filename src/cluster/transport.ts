// The transport between nodes: one request, one response, both opaque bytes. The HTTP transport carries it
// over undici; the simulation delivers it through its simulated network. Errors are ConvergeErrors:
// UNAVAILABLE when the peer cannot be reached, TIMEOUT when it did not answer in time, and the peer's own
// error code when it answered with one.

export interface TransportRequest {
  /** Route under /internal/, e.g. 'replicate', 'ae/round'. */
  readonly route: string;
  readonly body: Uint8Array;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface Transport {
  call(peer: string, request: TransportRequest): Promise<Uint8Array>;
}

/** What a node offers its peers: the handler the server (or the simulated network) calls. */
export type InternalHandler = (
  route: string,
  body: Uint8Array,
  from: string | undefined,
) => Promise<Uint8Array>;

/**
 * Where a subsystem beside the node (anti-entropy) registers the internal routes it answers: the node's id
 * and its route table, nothing else of the node.
 */
export interface InternalRouter {
  readonly id: string;
  registerInternal(route: string, handler: InternalHandler): void;
}
