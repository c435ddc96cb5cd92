// The operator's view and controls of membership (docs/http-api.md, "Membership"): the members with the
// change in progress, and a decommission, replace or cancel begun at this node (which then drives it).
// The changes need an operator token and are audited like the other operator routes (auth/route-roles.ts).

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { cancel, decommission, membersView, replace } from '../cluster/membership-api.js';
import type { MembershipService } from '../cluster/membership-service.js';
import { ConvergeError } from '../core/errors.js';
import { membershipStatus } from '../core/membership-status.js';

/** The records this node removed because a change moved their partition away or was cancelled. */
export interface DroppedRecords {
  readonly cleanup: number;
  readonly discard: number;
}

/** Read from the counter the drop route keeps (converge_membership_dropped_records_total), by reason. */
async function droppedRecords(registry: Registry | undefined): Promise<DroppedRecords> {
  const metric = registry?.getSingleMetric('converge_membership_dropped_records_total');
  const values = (await metric?.get())?.values ?? [];
  const sum = (reason: string): number =>
    values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  return { cleanup: sum('cleanup'), discard: sum('discard') };
}

export function registerMembership(
  app: FastifyInstance,
  membership: () => MembershipService | undefined,
  registry?: Registry,
): void {
  const need = (): MembershipService => {
    const m = membership();
    if (m === undefined)
      throw new ConvergeError('UNAVAILABLE', 'this node runs without a membership service');
    return m;
  };
  // This node's dropped records ride along: the dashboard shows each old owner's cleanup from them.
  app.get('/cluster/members', async () => ({
    ...membersView(need()),
    droppedRecords: await droppedRecords(registry),
  }));
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
