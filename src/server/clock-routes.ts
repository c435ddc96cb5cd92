// The operator's view of clocks: records stamped ahead of this node's clock, listed and removed
// (docs/operations.md, "A clock running ahead"). The node's clock against its peers' is in GET /status under
// `clock`.

import type { FastifyInstance } from 'fastify';
import type { ConvergeNode } from '../cluster/node.js';
import { ConvergeError } from '../core/errors.js';

/** Records listed (or removed) by one request at most. */
export const aheadListMax = 100_000;

function query(q: { minAheadMs?: string; limit?: string }): { minAheadMs: number; limit: number } {
  const minAheadMs = q.minAheadMs === undefined ? 1000 : Number(q.minAheadMs);
  if (!Number.isInteger(minAheadMs) || minAheadMs < 0)
    throw new ConvergeError('BAD_REQUEST', 'minAheadMs must be a whole number of milliseconds, 0 or more');
  const limit = q.limit === undefined ? 1000 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > aheadListMax)
    throw new ConvergeError('LIMIT_EXCEEDED', `limit must be 1..${aheadListMax}`);
  return { minAheadMs, limit };
}

export function registerClock(app: FastifyInstance, node: ConvergeNode): void {
  app.get('/clock/ahead', async (req) => {
    const { minAheadMs, limit } = query(req.query as Record<string, string>);
    return node.findAhead(minAheadMs, limit);
  });
  app.post('/clock/ahead/drop', async (req) => {
    const { minAheadMs, limit } = query(req.query as Record<string, string>);
    return node.dropAhead(minAheadMs, limit);
  });
}
