// Property-based tests of the DER codec: arbitrary bytes decode or fail with AMBIT_E_CERT (never
// another exception, never a hang), and what the encoders write decodes to the same tree,
// integers and OIDs.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout, arbitraryBytes } from '../../test/support/fuzz.js';
import { isAmbitError } from '../errors.js';
import { children, decode, decodeOid, integer, oid, tlv, TAG, type DerNode } from './der.js';

/** Decode and walk every constructed node; returns the number of nodes. */
function walk(buf: Buffer): number {
  let count = 0;
  const stack: DerNode[] = [decode(buf, 'fuzz')];
  while (stack.length > 0) {
    const node = stack.pop()!;
    count++;
    if (node.tag & 0x20) stack.push(...children(node, 'fuzz'));
  }
  return count;
}

function onlyCleanErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!isAmbitError(err) || err.code !== 'AMBIT_E_CERT') throw err;
  }
}

type Tree = { tag: number; bytes: Uint8Array } | { tag: number; items: Tree[] };

const primitiveTag = fc.constantFrom(
  TAG.BOOLEAN,
  TAG.INTEGER,
  TAG.BIT_STRING,
  TAG.OCTET_STRING,
  TAG.NULL,
  TAG.OID,
  TAG.UTF8_STRING,
  0x80,
  0x86,
);
const constructedTag = fc.constantFrom(TAG.SEQUENCE, TAG.SET, 0xa0, 0xa3);
const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ tag: primitiveTag, bytes: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ tag: constructedTag, items: fc.array(tie('node'), { maxLength: 4 }) }),
  ),
})).node;

function encodeTree(t: Tree): Buffer {
  return 'bytes' in t ? tlv(t.tag, Buffer.from(t.bytes)) : tlv(t.tag, Buffer.concat(t.items.map(encodeTree)));
}

function decodeTree(n: DerNode): Tree {
  return n.tag & 0x20
    ? { tag: n.tag, items: children(n).map(decodeTree) }
    : { tag: n.tag, bytes: new Uint8Array(n.content) };
}

describe('DER codec (fuzz)', () => {
  it.prop(
    [arbitraryBytes(512)],
    fuzzParams({
      examples: [
        [new Uint8Array([0x30, 0x81, 0x05, 1, 2, 3, 4, 5])], // non-minimal long-form length
        [new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])], // 4 GiB length, 0 bytes of content
        [new Uint8Array([0x30, 0x80, 0x00, 0x00])], // BER indefinite length
        [new Uint8Array([0x1f, 0x81, 0x01, 0x00])], // multi-byte tag
      ],
    }),
  )(
    'arbitrary bytes decode or fail with AMBIT_E_CERT',
    (bytes) => {
      onlyCleanErrors(() => walk(Buffer.from(bytes)));
    },
    fuzzTimeout(),
  );

  it.prop([tree, fc.integer({ min: 0, max: 3 })], fuzzParams())(
    'only the shortest length form decodes (DER: one encoding per value)',
    (t, extra) => {
      const bytes = encodeTree(t);
      const node = decode(bytes);
      // Re-encode the outer length in long form with `extra` leading zero bytes (or long form for a short length).
      const n = node.content.length;
      const minimal =
        n < 0x80 ? [] : [...Buffer.from(n.toString(16).padStart(2 * Math.ceil(n.toString(16).length / 2), '0'), 'hex')];
      const long = [...Array.from({ length: extra }, () => 0), ...(minimal.length > 0 ? minimal : [n])];
      if (long.length > 4 || (extra === 0 && minimal.length > 0)) return;
      const bent = Buffer.concat([Buffer.from([node.tag, 0x80 | long.length, ...long]), node.content]);
      expect(() => decode(bent)).toThrow(/non-minimal length/);
    },
    fuzzTimeout(),
  );

  it.prop([tree], fuzzParams())(
    'an encoded tree decodes to the same tree and re-encodes to the same bytes',
    (t) => {
      const bytes = encodeTree(t);
      const node = decode(bytes);
      expect(decodeTree(node)).toEqual(t);
      expect(node.raw.equals(bytes)).toBe(true);
    },
    fuzzTimeout(),
  );

  it.prop([tree, fc.nat(), fc.integer({ min: 0, max: 255 })], fuzzParams())(
    'a corrupted encoding decodes to something or fails with AMBIT_E_CERT',
    (t, at, byte) => {
      const bytes = encodeTree(t);
      if (bytes.length === 0) return;
      const i = at % bytes.length;
      const mutated = Buffer.from(bytes);
      mutated[i] = byte;
      onlyCleanErrors(() => walk(mutated));
      onlyCleanErrors(() => walk(bytes.subarray(0, i)));
    },
    fuzzTimeout(),
  );

  it.prop(
    [
      fc.oneof(
        fc.nat(),
        fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      ),
    ],
    fuzzParams({
      examples: [[Buffer.alloc(0)]], // found by this property: an empty INTEGER was written
    }),
  )(
    'INTEGER: minimal, non-negative, and the same unsigned value',
    (value) => {
      const node = decode(integer(value));
      expect(node.tag).toBe(TAG.INTEGER);
      const c = node.content;
      expect(c.length).toBeGreaterThan(0);
      expect(c[0]! & 0x80).toBe(0);
      if (c.length > 1) expect(c[0] === 0 && !(c[1]! & 0x80)).toBe(false);
      const expected = typeof value === 'number' ? BigInt(value) : BigInt(`0x0${Buffer.from(value).toString('hex')}`);
      expect(BigInt(`0x0${c.toString('hex')}`)).toBe(expected);
    },
    fuzzTimeout(),
  );

  const dottedOid = fc
    .tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.nat({ max: 2 ** 31 }),
      fc.array(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { maxLength: 8 }),
    )
    .map(([a, b, rest]) => [a, a < 2 ? b % 40 : b, ...rest].join('.'));
  it.prop([dottedOid], fuzzParams({ examples: [['2.999.3']] }))(
    'OID: dotted form survives encode and decode',
    (dotted) => {
      const node = decode(oid(dotted));
      expect(node.tag).toBe(TAG.OID);
      expect(decodeOid(node)).toBe(dotted);
    },
    fuzzTimeout(),
  );
});
