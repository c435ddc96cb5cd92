// Narration and evidence for the demo scenarios: numbered steps, the replicas' digest roots side by side, and
// waiting for a condition with a deadline.

import type { SessionHistoryEntry } from '../../antientropy/types.js';
import type { LocalCluster } from '../cluster.js';

export type Say = (line: string) => void;

export class Narrator {
  private step = 0;

  constructor(readonly say: Say) {}

  title(text: string): void {
    this.say('');
    this.say(`━━ ${text} ━━`);
  }

  next(text: string): void {
    this.step += 1;
    this.say('');
    this.say(`${this.step}. ${text}`);
  }

  detail(text: string): void {
    this.say(`   ${text}`);
  }

  check(ok: boolean, claim: string): boolean {
    this.say('');
    this.say(ok ? `✓ ${claim}` : `✗ expected: ${claim}`);
    return ok;
  }
}

/** Every running replica's key count and digest root, one line each, marking which agree. */
export function showRoots(n: Narrator, cluster: LocalCluster): void {
  const rows = cluster.configs.map((c) => {
    const r = cluster.running.get(c.id);
    return { id: c.id, keys: r?.ctx.replica.digest.count(), root: r?.ctx.replica.digest.rootHex() };
  });
  const counts = new Map<string, number>();
  for (const r of rows) if (r.root !== undefined) counts.set(r.root, (counts.get(r.root) ?? 0) + 1);
  for (const r of rows) {
    if (r.root === undefined) n.detail(`${r.id}  (stopped)`);
    else n.detail(`${r.id}  keys ${String(r.keys).padStart(5)}  digest ${r.root}${counts.size > 1 ? (counts.get(r.root)! > 1 ? '' : '  ← differs') : ''}`);
  }
}

export function converged(cluster: LocalCluster): boolean {
  const roots = [...cluster.running.values()].map((r) => r.ctx.replica.digest.rootHex());
  return roots.length === cluster.configs.length && new Set(roots).size === 1;
}

export async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await pause(50);
  }
  return true;
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sessions that repaired something since `sinceMs`, from every running node's history. */
export function repairSessions(cluster: LocalCluster, sinceMs: number): SessionHistoryEntry[] {
  const seen = new Set<string>();
  const out: SessionHistoryEntry[] = [];
  for (const r of cluster.running.values()) {
    for (const h of r.ctx.antiEntropy?.status().history ?? []) {
      if (h.startedAtMs < sinceMs || h.result !== 'repaired' || seen.has(h.id) || h.initiator !== r.ctx.config.id) continue;
      seen.add(h.id);
      out.push(h);
    }
  }
  return out;
}

export function describeSession(h: SessionHistoryEntry): string {
  return `session ${h.initiator}→${h.peer}: ${h.keysDivergent} divergent keys, ${h.keysPulled} pulled, ${h.keysPushed} pushed, ${h.roundTrips} round trips, ${h.bytesSent + h.bytesReceived} bytes, ${h.durationMs} ms`;
}
