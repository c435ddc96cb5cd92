// The share of a running session that is done, as its progress reports it. The digest share (nodes
// resolved) is right for an ordinary session, whose repair follows its discovery closely; a streaming session
// (a new owner filling its partitions) resolves its discovery at once on the bulk path and then spends its
// time pulling records, throttled, so its digest share would read 100% while most records are still to come.

import type { SessionCounts } from './types.js';

/**
 * The digest share for an ordinary session; for a streaming one the smaller of that and the records
 * repaired (pulled, or pushed) of those found to differ so far (0..1).
 */
export function sessionFraction(
  digestShare: number,
  streaming: boolean,
  counts: Pick<SessionCounts, 'keysDivergent' | 'keysPulled' | 'keysPushed'>,
): number {
  const digest = Math.max(0, Math.min(1, digestShare));
  if (!streaming || counts.keysDivergent <= 0) return digest;
  const repaired = (counts.keysPulled + counts.keysPushed) / counts.keysDivergent;
  return Math.min(digest, repaired);
}
