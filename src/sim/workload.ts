// The clients: puts, overwrites, deletes and reads of a small keyspace (so writes to the same key race), at
// random consistency levels, through random live nodes. Each operation is recorded with its outcome; one
// whose coordinator dies before it answers has an unknown outcome, as it would for a real client.

import type { Consistency } from '../cluster/node-types.js';
import { consistencyLevels } from '../cluster/node-types.js';
import { ConvergeError } from '../core/errors.js';
import type { Owner } from './scheduler.js';
import type { World } from './world.js';

export interface ClientOp {
  readonly id: number;
  readonly kind: 'put' | 'del' | 'get';
  readonly key: string;
  /** The value a put writes: unique per operation, so the checker can tell every write apart. */
  readonly value: string | null;
  readonly node: string;
  readonly consistency: Consistency;
  readonly issuedAtMs: number;
  outcome: 'pending' | 'ok' | 'failed' | 'unknown';
  /** Version of the write, or of the record a read returned. */
  version?: string;
  /** Of a write: the replicas that acknowledged it. */
  acknowledged?: readonly string[];
  /** What a read returned. */
  found?: boolean;
  readValue?: string;
  /** Of a failed operation: the error's code and the replicas it called unreachable. */
  errorCode?: string;
  unreachable?: readonly string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Workload {
  readonly ops: ClientOp[] = [];
  private readonly owner: Owner = { name: 'clients', alive: true };

  constructor(private readonly world: World) {}

  start(): void {
    this.world.scheduler.repeatAtRandom(this.owner, this.world.random, this.world.config.opGapMsMean, () =>
      this.issue(),
    );
  }

  stop(): void {
    this.owner.alive = false;
  }

  private issue(): void {
    const { world } = this;
    const { random } = world;
    const up = world.nodes.filter((n) => n.up);
    if (up.length === 0) return;
    const target = up[random.int(up.length)]!;
    const node = target.node!;
    const owner = target.owner!;
    const roll = random.next();
    const kind = roll < 0.55 ? 'put' : roll < 0.75 ? 'del' : 'get';
    const id = this.ops.length;
    const op: ClientOp = {
      id,
      kind,
      // Hot keys see racing writes; the long tail keeps last writes that nothing supersedes, so a lost one
      // shows.
      key:
        random.next() < 0.6 ? `k${random.int(world.config.keys)}` : `c${random.int(world.config.coldKeys)}`,
      value: kind === 'put' ? `v${id}` : null,
      node: target.id,
      consistency: consistencyLevels[random.int(consistencyLevels.length)]!,
      issuedAtMs: world.scheduler.nowMs,
      outcome: 'pending',
    };
    this.ops.push(op);
    const describe = `op${id} ${kind} ${op.key}${op.value === null ? '' : `=${op.value}`} at ${op.consistency} via ${op.node}`;
    const settle = (outcome: 'ok' | 'failed', detail: string): void => {
      // A client whose coordinator died never hears back, whatever the dead process was doing.
      op.outcome = owner.alive ? outcome : 'unknown';
      world.trace.log(`${describe}: ${op.outcome}${op.outcome === 'unknown' ? '' : ` ${detail}`}`);
    };
    const request =
      kind === 'put'
        ? node.put(op.key, encoder.encode(op.value!), op.consistency)
        : kind === 'del'
          ? node.del(op.key, op.consistency)
          : node.get(op.key, op.consistency);
    request.then(
      (result) => {
        if ('found' in result) {
          op.found = result.found;
          if (result.version !== undefined) op.version = result.version;
          if (result.value !== undefined) op.readValue = decoder.decode(result.value);
          settle('ok', result.found ? `found ${op.readValue} ${result.version}` : 'not found');
        } else {
          op.version = result.version;
          op.acknowledged = result.acknowledged;
          settle('ok', `${result.version} acked by ${result.acknowledged.join(',')}`);
        }
      },
      (err: unknown) => {
        if (err instanceof ConvergeError) {
          op.errorCode = err.code;
          const unreachable = err.details?.unreachable;
          if (Array.isArray(unreachable)) op.unreachable = unreachable.map(String);
        }
        settle('failed', err instanceof Error ? err.message : String(err));
      },
    );
  }
}
