// Turns differences into a repair plan: for each differing key, which side's record wins under the same
// last-writer-wins merge that client writes use, which way it must travel, and why (for `converge diff`).

import { compareVersions, versionToString } from './hlc.js';
import type { Difference } from './reconcile-types.js';
import { compareFp, type VersionedRecord } from './record.js';
import type { RecordHeader } from './wire.js';

export type RepairDirection = 'pull' | 'push';

export interface PlannedRepair {
  readonly key: Uint8Array;
  readonly direction: RepairDirection;
  readonly reason: string;
  readonly local: VersionedRecord | undefined;
  readonly remote: RecordHeader | undefined;
}

const describe = (h: { version: RecordHeader['version']; tombstone: boolean }): string =>
  `${h.tombstone ? 'tombstone' : 'value'} ${versionToString(h.version)}`;

/** The plan for one key-level difference (ranges missing on the peer are always pushed). */
export function planKey(d: Extract<Difference, { kind: 'key' }>): PlannedRepair {
  const { key, local, remote } = d;
  if (remote === undefined) {
    return { key, direction: 'push', reason: `missing on peer; local ${describe(local!)}`, local, remote };
  }
  if (local === undefined) {
    return { key, direction: 'pull', reason: `missing locally; peer has ${describe(remote)}`, local, remote };
  }
  const c = compareVersions(local.version, remote.version);
  if (c > 0)
    return {
      key,
      direction: 'push',
      reason: `local ${describe(local)} is newer than peer ${describe(remote)}`,
      local,
      remote,
    };
  if (c < 0)
    return {
      key,
      direction: 'pull',
      reason: `peer ${describe(remote)} is newer than local ${describe(local)}`,
      local,
      remote,
    };
  // Equal versions, different contents: a bug or bit rot. The larger fingerprint wins on every replica alike.
  const pull = compareFp(remote.fp, local.fp) > 0;
  return {
    key,
    direction: pull ? 'pull' : 'push',
    reason: `same version ${versionToString(local.version)} with different contents; the larger fingerprint wins`,
    local,
    remote,
  };
}
