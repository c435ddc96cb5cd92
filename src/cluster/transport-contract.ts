// The acceptance suite every Transport runs (the HTTP transport over real loopback, the in-process loopback
// network, the simulator's network): `runTransportContract(name, setup)`. It pins what the node code relies
// on: bytes arrive intact with the caller's id, a peer's ConvergeError keeps its code, anything else is
// INTERNAL, a stopped peer is UNAVAILABLE, a silent one TIMEOUT, an isolated one never reached.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvergeError, type ErrorCode } from '../core/errors.js';
import type { InternalHandler, Transport } from './transport.js';

export interface TransportFixture {
  /** Starts answering calls to `node` with `handler`. */
  serve(node: string, handler: InternalHandler): Promise<void>;
  /** Stops `node`: calls to it find nobody there. */
  stop(node: string): Promise<void>;
  /** The transport node `self` calls its peers with. */
  transport(self: string): Transport;
  /** Cuts the link from `self` to `peer` through the transport's fault hooks. */
  isolate(self: string, peer: string): void;
  /** Waits for an outcome; a simulated network runs its virtual time until the promise settles. */
  settle<T>(promise: Promise<T>): Promise<T>;
  cleanup(): Promise<void>;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const timeoutMs = 2000;

async function rejection(fixture: TransportFixture, call: Promise<unknown>): Promise<ConvergeError> {
  try {
    await fixture.settle(call);
  } catch (err) {
    assert.ok(err instanceof ConvergeError, `a transport rejects with ConvergeError, got ${String(err)}`);
    return err;
  }
  assert.fail('the call should have failed');
}

function assertCode(err: ConvergeError, codes: readonly ErrorCode[]): void {
  assert.ok(codes.includes(err.code), `expected ${codes.join(' or ')}, got ${err.code}: ${err.message}`);
}

type WithFixture = (title: string, body: (f: TransportFixture) => Promise<void>) => void;

export function runTransportContract(name: string, setup: () => Promise<TransportFixture>): void {
  const withFixture: WithFixture = (title, body) => {
    test(`${name}: ${title}`, async () => {
      const fixture = await setup();
      try {
        await body(fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };
  deliveryCases(withFixture);
  failureCases(withFixture);
  faultCases(withFixture);
}

/** What a working link does: bytes and callers arrive intact, calls do not mix. */
function deliveryCases(withFixture: WithFixture): void {
  withFixture(
    'a call reaches the peer with route, body and caller; the answer comes back intact',
    async (f) => {
      const seen: Array<{ route: string; body: string; from: string | undefined }> = [];
      await f.serve('n2', async (route, body, from) => {
        seen.push({ route, body: str(body), from });
        return bytes(`${route}:${str(body)}`);
      });
      const answer = await f.settle(
        f.transport('n1').call('n2', { route: 'ae/msg', body: bytes('hello'), timeoutMs }),
      );
      assert.equal(str(answer), 'ae/msg:hello');
      assert.deepEqual(seen, [{ route: 'ae/msg', body: 'hello', from: 'n1' }]);
    },
  );

  withFixture('binary, empty and large bodies travel unchanged both ways', async (f) => {
    await f.serve('n2', async (_route, body) => Uint8Array.from(body).reverse());
    const t = f.transport('n1');
    const large = Uint8Array.from({ length: 2 ** 20 }, (_, i) => (i * 131 + 7) & 0xff);
    for (const body of [new Uint8Array(0), Uint8Array.of(0, 255, 0, 10, 13), large]) {
      const answer = await f.settle(t.call('n2', { route: 'replicate', body, timeoutMs }));
      assert.deepEqual(Uint8Array.from(answer), Uint8Array.from(body).reverse(), `${body.length} bytes`);
    }
  });

  withFixture("neither side can change the other one's buffers", async (f) => {
    const kept: Uint8Array[] = [];
    const answerBytes = bytes('answer');
    await f.serve('n2', async (_route, body) => {
      kept.push(body);
      return answerBytes;
    });
    const body = bytes('request');
    const answer = await f.settle(f.transport('n1').call('n2', { route: 'read', body, timeoutMs }));
    body.fill(0);
    answer.fill(0);
    assert.equal(str(kept[0]!), 'request');
    assert.equal(str(answerBytes), 'answer');
  });

  withFixture('concurrent calls each get their own answer', async (f) => {
    await f.serve('n2', async (_route, body) => bytes(`re:${str(body)}`));
    const t = f.transport('n1');
    const calls = Array.from({ length: 40 }, (_, i) =>
      t.call('n2', { route: 'read', body: bytes(`${i}`), timeoutMs }),
    );
    const answers = await f.settle(Promise.all(calls));
    assert.deepEqual(
      answers.map(str),
      calls.map((_, i) => `re:${i}`),
    );
  });
}

/** What a failing peer or link looks like to the caller: always a ConvergeError with a known code. */
function failureCases(withFixture: WithFixture): void {
  withFixture("a peer's ConvergeError arrives with its code and message", async (f) => {
    await f.serve('n2', async () => {
      throw new ConvergeError('VALUE_TOO_LARGE', 'value of 9 bytes exceeds valueBytesMax 8');
    });
    const err = await rejection(
      f,
      f.transport('n1').call('n2', { route: 'replicate', body: bytes('x'), timeoutMs }),
    );
    assertCode(err, ['VALUE_TOO_LARGE']);
    assert.match(err.message, /exceeds valueBytesMax 8/);
  });

  withFixture('anything else a peer throws arrives as INTERNAL', async (f) => {
    await f.serve('n2', async () => {
      throw new TypeError('a bug in the handler');
    });
    const err = await rejection(
      f,
      f.transport('n1').call('n2', { route: 'read', body: bytes('x'), timeoutMs }),
    );
    assertCode(err, ['INTERNAL']);
  });

  withFixture('a stopped peer is UNAVAILABLE', async (f) => {
    await f.serve('n2', async () => bytes('up'));
    const t = f.transport('n1');
    assert.equal(
      str(await f.settle(t.call('n2', { route: 'ping', body: new Uint8Array(0), timeoutMs }))),
      'up',
    );
    await f.stop('n2');
    const err = await rejection(f, t.call('n2', { route: 'ping', body: new Uint8Array(0), timeoutMs }));
    assertCode(err, ['UNAVAILABLE']);
  });

  withFixture('a peer that does not answer in time is a TIMEOUT', async (f) => {
    const release = await serveHeld(f, 'n2');
    const err = await rejection(
      f,
      f.transport('n1').call('n2', { route: 'ae/msg', body: bytes('x'), timeoutMs: 150 }),
    );
    release();
    assertCode(err, ['TIMEOUT']);
  });
}

/** The caller's own means of giving up: an abort, and the fault hooks the tests partition nodes with. */
function faultCases(withFixture: WithFixture): void {
  withFixture('an aborted call rejects without waiting for the peer', async (f) => {
    const release = await serveHeld(f, 'n2');
    const controller = new AbortController();
    const call = f
      .transport('n1')
      .call('n2', { route: 'ae/msg', body: bytes('x'), timeoutMs: 60_000, signal: controller.signal });
    controller.abort(new ConvergeError('UNAVAILABLE', 'session cancelled'));
    await rejection(f, call);
    release();
  });

  withFixture(
    'an isolated peer is never reached and the call fails as unreachable or timed out',
    async (f) => {
      let reached = 0;
      await f.serve('n2', async () => {
        reached += 1;
        return bytes('ok');
      });
      await f.serve('n3', async () => bytes('ok'));
      f.isolate('n1', 'n2');
      const t = f.transport('n1');
      const err = await rejection(f, t.call('n2', { route: 'replicate', body: bytes('x'), timeoutMs: 150 }));
      assertCode(err, ['UNAVAILABLE', 'TIMEOUT']);
      assert.equal(reached, 0);
      assert.equal(
        str(await f.settle(t.call('n3', { route: 'replicate', body: bytes('x'), timeoutMs }))),
        'ok',
      );
    },
  );
}

/** Serves `peer` with a handler that answers only once the returned function is called. */
async function serveHeld(f: TransportFixture, peer: string): Promise<() => void> {
  let release = (): void => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  await f.serve(peer, async () => {
    await held;
    return bytes('late');
  });
  return () => release();
}
