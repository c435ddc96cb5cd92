// The operator's view and controls of membership (docs/http-api.md, "Membership"): the members with the
// change in progress, and a decommission, replace or cancel begun at this node (which then drives it).
// The changes need an operator token and are audited like the other operator routes (auth/route-roles.ts).

import type { FastifyInstance } from 'fastify';
import { cancel, decommission, membersView, replace } from '../cluster/membership-api.js';
import type { MembershipService } from '../cluster/membership-service.js';
import { ConvergeError } from '../core/errors.js';
import { membershipStatus } from '../core/membership-status.js';

export function registerMembership(
  app: FastifyInstance,
  membership: () => MembershipService | undefined,
): void {
  const need = (): MembershipService => {
    const m = membership();
    if (m === undefined)
      throw new ConvergeError('UNAVAILABLE', 'this node runs without a membership service');
    return m;
  };
  app.get('/cluster/members', async () => membersView(need()));
  app.post('/cluster/decommission', async (req) => {
    const q = req.query as { id?: string };
    return membershipStatus(await decommission(need(), q.id));
  });
  app.post('/cluster/replace', async (req) => {
    const q = req.query as { dead?: string; with?: string; url?: string };
    return membershipStatus(await replace(need(), q.dead, q.with, q.url));
  });
  app.post('/cluster/cancel', async () => membershipStatus(await cancel(need())));
}
