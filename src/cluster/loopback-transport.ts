// An in-process transport: nodes call each other's internal handlers directly. Unit tests use it; it has the
// same fault hooks as the HTTP transport.

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
        if (faults?.drops(peer, request.route)) throw new ConvergeError('UNAVAILABLE', `${peer} is unreachable (fault injected)`);
        const handler = this.handlers.get(peer);
        if (handler === undefined) throw new ConvergeError('UNAVAILABLE', `${peer} is not running`);
        // Copy the body as a network would, so neither side can mutate the other's buffers.
        const answer = handler(request.route, request.body.slice(), self);
        // A peer that never answers times out, as over HTTP.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new ConvergeError('TIMEOUT', `${peer} did not answer within ${request.timeoutMs} ms`)),
            request.timeoutMs,
          );
        });
        try {
          return (await Promise.race([answer, timeout])).slice();
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }
}
