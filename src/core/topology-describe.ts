// What members compare before they trust each other's ring: a plain description of the parameters (P, RF,
// members, epoch) with a compact fingerprint, and the first mismatch between two descriptions, in words.
// Also the one mutable piece: LiveTopology holds the current Topology and tells listeners of a new epoch.

import { ConvergeError } from './errors.js';
import { hash64 } from './hash.js';
import { memberIdBytesMax, memberStates, membersMax, type RingMember, type Topology } from './topology.js';

export interface RingDescription {
  readonly epoch: number;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Sorted by id. */
  readonly members: readonly RingMember[];
  /** 16 hex digits over everything above; equal fingerprints mean the same ring (up to 64-bit collisions). */
  readonly fingerprint: string;
}

export type RingMismatchField = 'partitions' | 'replicationFactor' | 'members' | 'epoch' | 'fingerprint';

export interface RingMismatch {
  readonly field: RingMismatchField;
  readonly message: string;
}

const encoder = new TextEncoder();

/** The canonical text the fingerprint hashes; versioned so that a change of layout is a visible mismatch. */
function canonical(d: Omit<RingDescription, 'fingerprint'>): string {
  const members = d.members.map((m) => `${m.id}:${m.state}`).join(',');
  return `ring1|p=${d.partitions}|rf=${d.replicationFactor}|epoch=${d.epoch}|members=${members}`;
}

export function ringFingerprint(d: Omit<RingDescription, 'fingerprint'>): string {
  const [hi, lo] = hash64(encoder.encode(canonical(d)), 0x72666e67n); // 'rfng'
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export function describeTopology(t: Topology): RingDescription {
  const base = {
    epoch: t.epoch,
    partitions: t.partitions,
    replicationFactor: t.replicationFactor,
    members: t.members.map((m) => ({ id: m.id, state: m.state })),
  };
  return { ...base, fingerprint: ringFingerprint(base) };
}

function memberList(members: readonly RingMember[]): string {
  return members.map((m) => (m.state === 'normal' ? m.id : `${m.id} (${m.state})`)).join(', ');
}

/**
 * The first difference between this node's ring and a peer's, or null when they agree. Parameters come
 * first (a peer started with other values must be refused: restart it with the same ones); an epoch
 * difference alone is reported last, because once membership can change it only means one side is behind.
 */
export function compareRings(
  local: RingDescription,
  remote: RingDescription,
  remoteId: string,
): RingMismatch | null {
  if (local.partitions !== remote.partitions) {
    return {
      field: 'partitions',
      message: `peer ${remoteId} runs --partitions ${remote.partitions}, this node ${local.partitions}`,
    };
  }
  if (local.replicationFactor !== remote.replicationFactor) {
    return {
      field: 'replicationFactor',
      message:
        `peer ${remoteId} runs --replication-factor ${remote.replicationFactor}, ` +
        `this node ${local.replicationFactor}`,
    };
  }
  const mine = memberList(local.members);
  const theirs = memberList(remote.members);
  if (mine !== theirs) {
    const ids = new Set(local.members.map((m) => m.id));
    const theirIds = new Set(remote.members.map((m) => m.id));
    const onlyThere = [...theirIds].filter((id) => !ids.has(id));
    const onlyHere = [...ids].filter((id) => !theirIds.has(id));
    const detail = [
      onlyThere.length > 0 ? `only the peer lists ${onlyThere.join(', ')}` : '',
      onlyHere.length > 0 ? `only this node lists ${onlyHere.join(', ')}` : '',
    ].filter((s) => s !== '');
    const why =
      detail.length > 0 ? detail.join('; ') : `members' states differ: peer [${theirs}], this node [${mine}]`;
    return {
      field: 'members',
      message: `peer ${remoteId} has other members (${why}); every member needs the same --peers`,
    };
  }
  if (local.epoch !== remote.epoch) {
    return {
      field: 'epoch',
      message: `peer ${remoteId} is at ring epoch ${remote.epoch}, this node at ${local.epoch}`,
    };
  }
  if (local.fingerprint !== remote.fingerprint) {
    // Same fields, different fingerprints: the peer hashes another layout (a different version of converge).
    return {
      field: 'fingerprint',
      message: `peer ${remoteId} has ring fingerprint ${remote.fingerprint}, this node ${local.fingerprint}`,
    };
  }
  return null;
}

function protocolInvalid(message: string): ConvergeError {
  return new ConvergeError('PROTOCOL_INVALID', `ring description: ${message}`);
}

const isCount = (v: unknown, max: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

/**
 * A peer's ring description as received (JSON), checked field by field so that a malformed one is a clear
 * PROTOCOL_INVALID instead of a wrong comparison. The fingerprint is taken as sent: compareRings reports it.
 */
export function parseRingDescription(value: unknown): RingDescription {
  if (value === null || typeof value !== 'object') throw protocolInvalid('not an object');
  const v = value as Record<string, unknown>;
  if (!isCount(v.epoch, Number.MAX_SAFE_INTEGER))
    throw protocolInvalid('epoch is not a non-negative integer');
  if (!isCount(v.partitions, 2 ** 32)) throw protocolInvalid('partitions is not a non-negative integer');
  if (!isCount(v.replicationFactor, 2 ** 32)) throw protocolInvalid('replicationFactor is not an integer');
  if (typeof v.fingerprint !== 'string' || !/^[0-9a-f]{16}$/.test(v.fingerprint)) {
    throw protocolInvalid('fingerprint is not 16 hex digits');
  }
  if (!Array.isArray(v.members) || v.members.length > membersMax) {
    throw protocolInvalid(`members is not a list of at most ${membersMax}`);
  }
  const members = v.members.map((m: unknown, i): RingMember => {
    const r = (m ?? {}) as Record<string, unknown>;
    const okId =
      typeof r.id === 'string' && r.id.length > 0 && encoder.encode(r.id).length <= memberIdBytesMax;
    if (!okId) throw protocolInvalid(`member ${i} has no valid id`);
    if (!memberStates.includes(r.state as RingMember['state']))
      throw protocolInvalid(`member ${i} has no valid state`);
    return { id: r.id as string, state: r.state as RingMember['state'] };
  });
  return {
    epoch: v.epoch,
    partitions: v.partitions,
    replicationFactor: v.replicationFactor,
    members,
    fingerprint: v.fingerprint,
  };
}

/** The error a node answers to (or logs about) a peer whose ring differs. */
export function ringMismatchError(m: RingMismatch): ConvergeError {
  return new ConvergeError('RING_MISMATCH', `ring mismatch: ${m.message}`, { field: m.field });
}

export type TopologyListener = (next: Topology, previous: Topology) => void;

/** The current topology and a plain listener list; no timers, no I/O (callers decide when to advance). */
export class LiveTopology {
  private value: Topology;
  private readonly listeners: TopologyListener[] = [];

  constructor(initial: Topology) {
    this.value = initial;
  }

  get current(): Topology {
    return this.value;
  }

  /** Calls `listener` on every later epoch; returns the function that unsubscribes it. */
  subscribe(listener: TopologyListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Installs `next` if its epoch is above the current one and tells the listeners (in subscription order);
   * an older or equal epoch is ignored (a late message), returning false.
   */
  advance(next: Topology): boolean {
    if (next.epoch <= this.value.epoch) return false;
    const previous = this.value;
    this.value = next;
    for (const listener of [...this.listeners]) listener(next, previous);
    return true;
  }
}
