// The majority reservation of a membership epoch (membership-proposals.ts): what a member refuses, so that
// two would-be drivers never both install an epoch, and whom the takeover falls to.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError } from '../core/errors.js';
import { beginJoin, beginReplace, createMembership } from '../core/membership.js';
import { Topology } from '../core/topology.js';
import { takeoverCandidate } from './membership-driver-loop.js';
import {
  agreementsNeeded,
  checkProposal,
  encodeProposal,
  type Proposal,
  type ProposalContext,
  parseProposal,
  votersOf,
} from './membership-proposals.js';

const settled = createMembership(Topology.create({ members: ['n1', 'n2', 'n3'], partitions: 16 }));
const joining = beginJoin(settled, 'n4');
const next = joining.epoch + 1;

function ctx(over: Partial<ProposalContext> = {}): ProposalContext {
  return { self: 'n3', state: joining, driver: 'n1', down: new Set(), reservation: null, nowMs: 0, ...over };
}

function p(kind: Proposal['kind'], driver: string, epoch = next): Proposal {
  return { kind, epoch, fingerprint: `f-${driver}`, what: 'x', driver };
}

function refused(fn: () => void, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConvergeError);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

test('steps come only from the recorded driver, at the next epoch', () => {
  checkProposal(ctx(), p('step', 'n1'));
  refused(() => checkProposal(ctx(), p('step', 'n2')), 'MEMBERSHIP_STALE', /n2 no longer drives .*n1 does/);
  refused(() => checkProposal(ctx(), p('step', 'n1', next + 1)), 'MEMBERSHIP_STALE', /has installed/);
  refused(() => checkProposal(ctx(), p('step', 'n1', joining.epoch)), 'MEMBERSHIP_STALE', /has installed/);
  refused(() => checkProposal(ctx({ state: settled }), p('step', 'n1')), 'MEMBERSHIP_STALE', /no change/);
  refused(() => checkProposal(ctx(), p('begin', 'n2')), 'CHANGE_IN_PROGRESS', /join of n4.*driven by n1/);
  checkProposal(ctx(), p('cancel', 'n2'));
});

test('a takeover only where the driver is unreachable; one proposer per reserved epoch', () => {
  refused(() => checkProposal(ctx(), p('takeover', 'n2')), 'CHANGE_IN_PROGRESS', /n1 is reachable from n3/);
  refused(() => checkProposal(ctx({ self: 'n1' }), p('takeover', 'n2')), 'CHANGE_IN_PROGRESS', /reachable/);
  refused(() => checkProposal(ctx(), p('takeover', 'n1')), 'MEMBERSHIP_STALE', /already drives/);
  const down = new Set(['n1']);
  checkProposal(ctx({ down }), p('takeover', 'n2'));
  // n3 reserved the epoch for n2's takeover: the old driver's step at that epoch is refused until it lapses.
  const reservation = { ...p('takeover', 'n2'), untilMs: 10_000 };
  refused(
    () => checkProposal(ctx({ down, reservation }), p('step', 'n1')),
    'CHANGE_IN_PROGRESS',
    /reserved for x/,
  );
  refused(() => checkProposal(ctx({ reservation }), p('cancel', 'n3')), 'CHANGE_IN_PROGRESS', /one driver/);
  checkProposal(ctx({ down, reservation }), p('takeover', 'n2'));
  checkProposal(ctx({ reservation, nowMs: 10_000 }), p('step', 'n1'));
});

test('voters, majority and the takeover candidate', () => {
  assert.deepEqual(votersOf(joining), ['n1', 'n2', 'n3', 'n4']);
  assert.equal(agreementsNeeded(joining), 3);
  const replacing = beginReplace(settled, 'n3', 'n5');
  assert.deepEqual(votersOf(replacing), ['n1', 'n2', 'n5'], 'the dead member does not vote');
  assert.equal(agreementsNeeded(replacing), 2);
  assert.equal(takeoverCandidate(joining, new Set(['n1']), 'n1'), 'n2');
  assert.equal(takeoverCandidate(joining, new Set(['n1', 'n2']), 'n1'), 'n3');
  assert.equal(
    takeoverCandidate(joining, new Set(['n1', 'n2', 'n3']), 'n1'),
    null,
    'a joiner does not drive',
  );
});

test('a proposal round-trips with the record; a malformed one is PROTOCOL_INVALID', () => {
  const record = new TextEncoder().encode('{"format":1}');
  const back = parseProposal(encodeProposal(p('takeover', 'n2'), record));
  assert.deepEqual(back.proposal, p('takeover', 'n2'));
  assert.deepEqual(back.record, record);
  const legacy = parseProposal(
    new TextEncoder().encode('{"epoch":3,"fingerprint":"f","what":"w","driver":"n1"}'),
  );
  assert.equal(legacy.proposal.kind, 'begin');
  assert.equal(legacy.record, null);
  for (const text of ['nope', '{"kind":"other","epoch":3,"fingerprint":"f","what":"w","driver":"n1"}', '{}'])
    refused(() => parseProposal(new TextEncoder().encode(text)), 'PROTOCOL_INVALID', /membership proposal/);
});
