// `POST /demo/*`: the scenario controls of `converge demo` (isolate, stop, start, heal, write a burst, switch
// a mechanism). Outside demo mode every one of them answers 404, so a production node exposes no fault
// switch.

import type { FastifyInstance } from 'fastify';
import { ConvergeError } from '../../core/errors.js';
import { type DemoControls, type MechanismName, mechanismNames } from './types.js';

export const writeBurstCountMax = 10_000;

type Body = Record<string, unknown>;

/**
 * The JSON body of a demo request. The node's server keeps bodies as raw bytes (it parses no content type
 * itself), so the body arrives as a Buffer there and as an object under fastify's default parsers.
 */
function bodyOf(raw: unknown): Body {
  let value = raw;
  if (Buffer.isBuffer(raw) || typeof raw === 'string') {
    const text = raw.toString();
    if (text.trim().length === 0) return {};
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      throw new ConvergeError('BAD_REQUEST', 'the body must be JSON');
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Body) : {};
}

function nodeOf(body: Body, required: true): string;
function nodeOf(body: Body, required: false): string | undefined;
function nodeOf(body: Body, required: boolean): string | undefined {
  const node = body.node;
  if (node === undefined && !required) return undefined;
  if (typeof node !== 'string' || node.length === 0 || node.length > 200) {
    throw new ConvergeError('BAD_REQUEST', 'body must name a node: {"node": "ID"}');
  }
  return node;
}

function countOf(body: Body): number {
  const count = body.count ?? 100;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > writeBurstCountMax) {
    throw new ConvergeError(
      'LIMIT_EXCEEDED',
      `count must be an integer from 1 to ${writeBurstCountMax} (writeBurstCountMax)`,
    );
  }
  return count;
}

function mechanismOf(body: Body): { mechanism: MechanismName; enabled: boolean } {
  const { mechanism, enabled } = body;
  if (typeof mechanism !== 'string' || !(mechanismNames as readonly string[]).includes(mechanism)) {
    throw new ConvergeError('BAD_REQUEST', `mechanism must be one of ${mechanismNames.join(', ')}`);
  }
  if (typeof enabled !== 'boolean') throw new ConvergeError('BAD_REQUEST', 'enabled must be true or false');
  return { mechanism: mechanism as MechanismName, enabled };
}

export function registerDemoRoutes(
  app: FastifyInstance,
  demo: DemoControls | undefined,
  selfId: () => string,
): void {
  if (demo === undefined) {
    app.all('/demo/*', async () => {
      throw new ConvergeError('NOT_FOUND', 'demo controls exist only in `converge demo`');
    });
    return;
  }
  const ok = () => ({ ok: true, demo: demo.state() });
  app.post('/demo/isolate', async (req) => {
    await demo.isolate(nodeOf(bodyOf(req.body), true));
    return ok();
  });
  app.post('/demo/heal', async () => {
    await demo.heal();
    return ok();
  });
  app.post('/demo/stop', async (req) => {
    const node = nodeOf(bodyOf(req.body), true);
    // The node would stop answering this very request and the page it serves: refuse, and say where to go.
    if (node === selfId()) {
      throw new ConvergeError(
        'CONFLICT',
        `${node} serves this dashboard and cannot be stopped through its own API; stop it from another node's dashboard`,
      );
    }
    await demo.stop(node);
    return ok();
  });
  app.post('/demo/start', async (req) => {
    await demo.start(nodeOf(bodyOf(req.body), true));
    return ok();
  });
  app.post('/demo/write-burst', async (req) => {
    const body = bodyOf(req.body);
    const result = await demo.writeBurst(countOf(body), nodeOf(body, false));
    return { ...ok(), ...result };
  });
  app.post('/demo/mechanism', async (req) => {
    if (demo.setMechanism === undefined) {
      throw new ConvergeError('NOT_FOUND', 'this demo cannot switch mechanisms at run time');
    }
    const body = bodyOf(req.body);
    const { mechanism, enabled } = mechanismOf(body);
    await demo.setMechanism(nodeOf(body, false), mechanism, enabled);
    return ok();
  });
}
