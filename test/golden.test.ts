// Golden fixtures: the on-disk and on-wire formats pinned as bytes (test/fixtures/golden.json). A change to a
// hash seed, the fingerprint layout or any message's encoding fails here, because a mixed old/new cluster
// would see every key as divergent or fail to parse its peers. The fixtures are decoded too, so bytes an
// older node wrote still read back.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  decodeJson,
  decodeKey,
  decodeOptionalRecord,
  decodeRecords,
  encodeRecords,
} from '../src/cluster/codec.js';
import { checkPeerFormat, formatId } from '../src/core/format.js';
import { decodeMembership, encodeMembership } from '../src/core/membership-codec.js';
import { decodeRecordValue, encodeRecordValue, recomputeFingerprint } from '../src/core/record.js';
import {
  decodeRoundRequest,
  decodeRoundResponse,
  encodeRoundRequest,
  encodeRoundResponse,
  MessageType,
  peekType,
} from '../src/core/wire.js';
import {
  decodeFetchRequest,
  decodeFetchResponse,
  decodePushRequest,
  decodePushResponse,
  decodeRangeFetchRequest,
  decodeRangeFetchResponse,
  encodeFetchRequest,
  encodeFetchResponse,
  encodePushRequest,
  encodePushResponse,
  encodeRangeFetchRequest,
  encodeRangeFetchResponse,
} from '../src/core/wire-repair.js';
import { goldenCases, goldenPath, hex } from './fixtures/golden-cases.js';

const fixtures = JSON.parse(readFileSync(goldenPath, 'utf8')) as Record<string, string>;
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const regenerate = 'node --import tsx scripts/golden-fixtures.ts --write';

test('every format case equals its golden fixture', () => {
  const now = goldenCases();
  assert.deepEqual(Object.keys(now).sort(), Object.keys(fixtures).sort(), 'the set of golden cases changed');
  const changed = Object.keys(now).filter((name) => now[name] !== fixtures[name]);
  assert.deepEqual(
    changed,
    [],
    `format changed for ${changed.join(', ')}: a mixed cluster would break. If intended, bump the wire version ` +
      `or record format and regenerate with \`${regenerate}\``,
  );
});

test('every message type of the protocol has a golden fixture of its own type', () => {
  for (const [name, type] of Object.entries(MessageType)) {
    const cases = Object.keys(fixtures).filter((k) => k === `wire.${name}` || k.startsWith(`wire.${name}.`));
    assert.ok(cases.length > 0, `no golden fixture for message type ${name}`);
    for (const c of cases) assert.equal(peekType(unhex(fixtures[c]!)), type, `${c} carries type ${type}`);
  }
});

/** Decode then encode again: each fixture must come back byte for byte. */
const roundTrips: Record<keyof typeof MessageType, (b: Uint8Array) => Uint8Array> = {
  roundRequest: (b) => encodeRoundRequest(decodeRoundRequest(b)),
  roundResponse: (b) => encodeRoundResponse(decodeRoundResponse(b, 8, 2), 8, 2),
  fetchRequest: (b) => encodeFetchRequest(decodeFetchRequest(b)),
  fetchResponse: (b) => encodeFetchResponse(decodeFetchResponse(b)),
  pushRequest: (b) => encodePushRequest(decodePushRequest(b)),
  pushResponse: (b) => encodePushResponse(decodePushResponse(b)),
  rangeFetchRequest: (b) => encodeRangeFetchRequest(decodeRangeFetchRequest(b)),
  rangeFetchResponse: (b) => encodeRangeFetchResponse(decodeRangeFetchResponse(b)),
};

test('each wire fixture decodes and encodes back to the same bytes', () => {
  for (const [name, value] of Object.entries(fixtures)) {
    if (!name.startsWith('wire.')) continue;
    const type = name.split('.')[1] as keyof typeof MessageType;
    assert.equal(hex(roundTrips[type](unhex(value))), value, name);
  }
});

test('stored records and codec messages of the fixtures read back, fingerprints intact', () => {
  for (const name of ['storage.record.live', 'storage.record.tombstone']) {
    const r = decodeRecordValue(
      new TextEncoder().encode(name.endsWith('live') ? 'user:42' : 'user:43'),
      unhex(fixtures[name]!),
    );
    assert.deepEqual(recomputeFingerprint(r), r.fp, `${name}: the stored fingerprint is the recomputed one`);
    assert.equal(hex(encodeRecordValue(r)), fixtures[name]);
  }
  const records = decodeRecords(unhex(fixtures['codec.records']!), 1024);
  assert.equal(hex(encodeRecords(records)), fixtures['codec.records']);
  assert.equal(new TextDecoder().decode(decodeKey(unhex(fixtures['codec.key']!))), 'user:42');
  assert.equal(decodeOptionalRecord(unhex(fixtures['codec.optionalRecord.absent']!), 1024), undefined);
  assert.deepEqual(
    decodeOptionalRecord(unhex(fixtures['codec.optionalRecord.present']!), 1024)?.fp,
    records[0]!.fp,
  );
  assert.deepEqual(decodeJson(unhex(fixtures['codec.json.ping']!)), { id: 'n1', root: '0123456789abcdef' });
});

test('the membership fixtures read back: states an older node stored stay readable', () => {
  for (const name of ['membership.settled', 'membership.join.oneMoved']) {
    const state = decodeMembership(unhex(fixtures[name]!));
    assert.equal(hex(encodeMembership(state)), fixtures[name], name);
  }
  const joining = decodeMembership(unhex(fixtures['membership.join.oneMoved']!));
  assert.equal(joining.change?.kind, 'join');
  assert.equal(joining.change?.moves.filter((m) => m.state === 'moved').length, 1);
});

test('a peer of another format is refused with PEER_INCOMPATIBLE; ours and an absent header pass', () => {
  checkPeerFormat(formatId, 'n2');
  checkPeerFormat(undefined, 'n2');
  assert.throws(
    () => checkPeerFormat('w0-0000000000000000-0000000000000000', 'n2'),
    (err: { code?: string; message?: string }) =>
      err.code === 'PEER_INCOMPATIBLE' &&
      /peer n2 speaks format w0-/.test(err.message ?? '') &&
      err.message!.includes(formatId),
  );
  assert.throws(() => checkPeerFormat([formatId, formatId], undefined), { code: 'PEER_INCOMPATIBLE' });
});
