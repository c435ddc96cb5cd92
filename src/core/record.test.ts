import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConvergeError } from './errors.js';
import { msMax, nodeIdBytesMax } from './hlc.js';
import { decodeRecordValue, decodeVersion, encodeRecordValue, encodeVersion, makeRecord } from './record.js';

const nodeId = fc
  .string({ minLength: 1, maxLength: 12, unit: 'grapheme' })
  .filter((s) => new TextEncoder().encode(s).length <= nodeIdBytesMax);

const version = fc
  .tuple(fc.nat(msMax), fc.nat(0xffff), nodeId)
  .map(([ms, counter, node]) => ({ ms, counter, node }));

test('versions survive encode and decode, whatever mix of node ids (more than the decoder caches) they name', () => {
  fc.assert(
    fc.property(fc.array(version, { minLength: 1, maxLength: 40 }), (versions) => {
      for (const v of versions) {
        const bytes = encodeVersion(v);
        // Decoded from inside a larger buffer, as the wire and storage do.
        const framed = new Uint8Array(bytes.length + 5);
        framed.set(bytes, 3);
        const { version: back, end } = decodeVersion(framed, 3);
        assert.deepEqual(back, v);
        assert.equal(end, 3 + bytes.length);
      }
    }),
  );
});

test('stored records survive encode and decode: version, tombstone, fingerprint and value', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      version,
      fc.option(fc.uint8Array({ maxLength: 300 })),
      (key, v, value) => {
        const r = makeRecord(key, v, value);
        const back = decodeRecordValue(key, encodeRecordValue(r));
        assert.deepEqual(back.version, r.version);
        assert.equal(back.tombstone, r.tombstone);
        assert.deepEqual(back.fp, r.fp);
        assert.deepEqual([...back.value], [...r.value]);
      },
    ),
  );
});

test('a node id that is not UTF-8 is refused, even right after a valid one of the same length', () => {
  const good = encodeVersion({ ms: 1, counter: 0, node: 'ab' });
  assert.equal(decodeVersion(good, 0).version.node, 'ab');
  const bad = good.slice();
  bad[9] = 0xff;
  bad[10] = 0xfe;
  assert.throws(
    () => decodeVersion(bad, 0),
    (err: unknown) => err instanceof ConvergeError && err.code === 'PROTOCOL_INVALID',
  );
});
