// An in-process transport: nodes call each other's internal handlers directly. Unit tests use it; it has the
// same fault hooks as the HTTP transport and keeps the same contract (src/cluster/transport-contract.ts):
// copied bodies, the peer's error code kept, anything else INTERNAL, TIMEOUT and abort honoured.

import { ConvergeError } from '../core/errors.js';
import type { TransportFaults } from './faults.js';
import type { InternalHandler, Transport, TransportRequest } from './transport.js';

export class LoopbackNetwork {
  private readonly handlers = new Map<string, InternalHandler>();

  register(node: string, handler: InternalHandler): void {
    this.handlers.set(node, handler);
  }

  unregister(node: string): void {
    this.handlers.delete(node);
  }

  transport(self: string, faults?: TransportFaults): Transport {
    return {
      call: async (peer: string, request: TransportRequest): Promise<Uint8Array> => {
        if (faults?.drops(peer, request.route))
          throw new ConvergeError('UNAVAILABLE', `${peer} is unreachable (fault injected)`);
        const handler = this.handlers.get(peer);
        if (handler === undefined) throw new ConvergeError('UNAVAILABLE', `${peer} is not running`);
        // Copy the body as a network would, so neither side can mutate the other's buffers.
        const answer = handler(request.route, request.body.slice(), self).catch((err: unknown) => {
          throw asPeerError(peer, request.route, err);
        });
        return (await withDeadline(peer, answer, request)).slice();
      },
    };
  }
}

/** A peer's ConvergeError keeps its code; anything else is a failure of the peer, as over HTTP. */
function asPeerError(peer: string, route: string, err: unknown): ConvergeError {
  if (err instanceof ConvergeError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new ConvergeError('INTERNAL', `${peer} failed on ${route}: ${text}`);
}

/**
 * Settles with the answer, or with TIMEOUT after `timeoutMs`, or with the abort reason, whichever is first.
 */
function withDeadline(
  peer: string,
  answer: Promise<Uint8Array>,
  request: TransportRequest,
): Promise<Uint8Array> {
  const { signal, timeoutMs } = request;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(() => reject(new ConvergeError('TIMEOUT', `${peer} did not answer within ${timeoutMs} ms`))),
      timeoutMs,
    );
    const onAbort = (): void => done(() => reject(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (settle: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    answer.then(
      (bytes) => done(() => resolve(bytes)),
      (err: unknown) => done(() => reject(err)),
    );
  });
}
