// The identity of the formats two nodes must share to work together: the wire protocol version and the
// hashing that places keys (tokens) and fingerprints records. A node with another hash seed or fingerprint
// layout would see every key as divergent, so peers compare this id on every internal request and refuse a
// mismatch (PEER_INCOMPATIBLE) instead of "repairing" a whole cluster. Pinned by test/golden.test.ts.

import { ConvergeError } from './errors.js';
import { fingerprintOf, tokenOf, valueHash } from './hash.js';
import { encodeVersion } from './record.js';
import { wireVersion } from './wire.js';

/** The request header that carries the sender's format id on every node-to-node call. */
export const formatHeader = 'x-converge-format';

const textEncoder = new TextEncoder();

function hex(bytes: readonly number[]): string {
  return bytes.map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
}

/**
 * `w<wire version>-<canary fingerprint>-<canary token>`: the canary record's fingerprint and token change
 * with any change to the seeds, the fingerprint layout or the version encoding, without anyone having to
 * remember to bump a number.
 */
function computeFormatId(): string {
  const key = textEncoder.encode('converge-format-canary');
  const version = encodeVersion({ ms: 1_700_000_000_000, counter: 1, node: 'canary' });
  const fp = fingerprintOf(key, version, false, valueHash(textEncoder.encode('canary value')));
  const token = tokenOf(key);
  const tokenWords = [0, 4].map(
    (at) => ((token[at]! << 24) | (token[at + 1]! << 16) | (token[at + 2]! << 8) | token[at + 3]!) >>> 0,
  );
  return `w${wireVersion}-${hex([fp[0], fp[1]])}-${hex(tokenWords)}`;
}

/** This build's format id. */
export const formatId = computeFormatId();

/**
 * Refuses a peer whose format id differs from ours. A request without the header (a tool, a test, a node
 * from before the header existed) is let through: its messages still pass every decoder's version check.
 */
export function checkPeerFormat(
  header: string | readonly string[] | undefined,
  peer: string | undefined,
): void {
  if (header === undefined || header === formatId) return;
  const peerFormat = typeof header === 'string' ? header : header.join(',');
  const who = peer === undefined ? 'a peer' : `peer ${peer}`;
  throw new ConvergeError(
    'PEER_INCOMPATIBLE',
    `${who} speaks format ${peerFormat.slice(0, 80)}, this node speaks ${formatId}: ` +
      'nodes of one cluster must run compatible releases',
    { peerFormat: peerFormat.slice(0, 80), format: formatId },
  );
}
