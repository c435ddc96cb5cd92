import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClockCheck } from './clock-check.js';

function world(): { wallMs: number; monoMs: number; check: ClockCheck } {
  const w = { wallMs: 1_000_000, monoMs: 0, check: undefined as unknown as ClockCheck };
  w.check = new ClockCheck({ now: () => w.wallMs }, () => w.monoMs, 5000);
  return w;
}

function ping(w: ReturnType<typeof world>, peer: string, peerOffsetMs: number, rttMs = 10): void {
  const sent = w.check.begin();
  w.wallMs += rttMs;
  w.monoMs += rttMs;
  w.check.record(peer, sent, w.wallMs - rttMs / 2 + peerOffsetMs);
}

test('clock check: a clock off from most measured peers by more than the bound is skewed', () => {
  const w = world();
  ping(w, 'b', 0);
  ping(w, 'c', 0);
  assert.equal(w.check.view().skewed, false);
  // b and c an hour behind this node: this node's clock is the odd one out.
  ping(w, 'b', -3_600_000);
  assert.equal(w.check.view().skewed, false, 'one of two peers off is not most');
  ping(w, 'c', -3_600_000);
  const view = w.check.view();
  assert.equal(view.skewed, true);
  assert.match(view.reason!, /differs from b's by 3600000 ms/);
});

test("clock check: a jump of this node's wall clock shows at once, without a new ping", () => {
  const w = world();
  ping(w, 'b', 0);
  ping(w, 'c', 0);
  w.monoMs += 1000;
  w.wallMs += 1000 + 60_000;
  const view = w.check.view();
  assert.equal(view.skewed, true);
  assert.deepEqual(
    view.peers.map((p) => p.offsetMs),
    [-60_000, -60_000],
  );
});

test("clock check: a peer refusing this node's timestamps counts as off; an answer clears it", () => {
  const w = world();
  w.check.refused('b');
  assert.equal(w.check.view().skewed, true);
  assert.match(w.check.view().reason!, /b refuses its timestamps/);
  ping(w, 'b', 0);
  assert.equal(w.check.view().skewed, false);
});

test('clock check: half the round trip is allowed for, and no sample means no verdict', () => {
  const w = world();
  assert.equal(w.check.view().skewed, false);
  ping(w, 'b', 5200, 1000);
  assert.equal(w.check.view().peers[0]!.off, false, '5.2 s apart with a 1 s round trip may be within 5 s');
});
