// A minimal DER encoder/decoder for the X.509 and PKCS#10 structures the CA builds and reads.
// node:crypto makes the keys and signatures; node-forge's ASN.1 works on binary strings and its
// certificate code cannot sign with EC keys, so the few structures needed are encoded here.

import { AmbitError } from '../errors.js';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(items));
/** SET OF: DER wants the elements sorted by their encoding. */
export const setOf = (...items: Buffer[]): Buffer => tlv(TAG.SET, Buffer.concat([...items].sort(Buffer.compare)));
/** [n] EXPLICIT (constructed, context-specific). */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
export const octetString = (content: Buffer): Buffer => tlv(TAG.OCTET_STRING, content);
export const bitString = (content: Buffer, unusedBits = 0): Buffer =>
  tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), content]));
export const nullValue = (): Buffer => tlv(TAG.NULL, Buffer.alloc(0));
export const boolean = (value: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
export const utf8String = (value: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(value, 'utf8'));
export const ia5String = (value: string): Buffer => tlv(TAG.IA5_STRING, Buffer.from(value, 'ascii'));

/** INTEGER from a small number or from unsigned big-endian bytes. */
export function integer(value: number | Buffer): Buffer {
  let bytes = value;
  if (typeof bytes === 'number') {
    const hex = bytes.toString(16);
    bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]); // an INTEGER has at least one content byte
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(TAG.INTEGER, bytes);
}

const oidCache = new Map<string, Buffer>();

/** OBJECT IDENTIFIER (encodings cached: the same few OIDs are written for every certificate). */
export function oid(dotted: string): Buffer {
  let encoded = oidCache.get(dotted);
  if (!encoded) {
    encoded = encodeOid(dotted);
    oidCache.set(dotted, encoded);
  }
  return encoded;
}

function encodeOid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = parts;
  const out: number[] = [];
  // The first two arcs share one subidentifier (X.690 8.19.4); under arc 2 it can exceed 127.
  for (const part of [a * 40 + b, ...rest]) {
    const chunk: number[] = [part % 128];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n % 128));
    out.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). Second precision. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  return year < 2050 && year >= 1950
    ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'ascii'));
}

/** One decoded TLV: `raw` is the whole element, `content` its value. */
export interface DerNode {
  readonly tag: number;
  readonly raw: Buffer;
  readonly content: Buffer;
}

export function decode(buf: Buffer, what = 'DER'): DerNode {
  const node = readNode(buf, 0, what);
  if (node.raw.length !== buf.length) throw malformed(what, 'trailing bytes');
  return node;
}

function readNode(buf: Buffer, offset: number, what: string): DerNode {
  const tag = buf[offset];
  const first = buf[offset + 1];
  if (tag === undefined || first === undefined) throw malformed(what, 'truncated');
  if ((tag & 0x1f) === 0x1f) throw malformed(what, 'multi-byte tags are not supported');
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw malformed(what, 'bad length');
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = buf[offset + 2 + i];
      if (byte === undefined) throw malformed(what, 'truncated');
      length = length * 256 + byte;
    }
    // DER: the shortest length form only (one encoding per value, so re-encoding gives the same bytes).
    if (length < 0x80 || buf[offset + 2] === 0) throw malformed(what, 'non-minimal length');
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length) throw malformed(what, 'truncated');
  return { tag, raw: buf.subarray(offset, end), content: buf.subarray(offset + header, end) };
}

/** The elements inside a constructed node (SEQUENCE, SET, [n]). */
export function children(node: DerNode, what = 'DER'): DerNode[] {
  const out: DerNode[] = [];
  for (let offset = 0; offset < node.content.length;) {
    const child = readNode(node.content, offset, what);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

/** Dotted form of an OBJECT IDENTIFIER; never throws (an unfinished last subidentifier is dropped). */
export function decodeOid(node: DerNode): string {
  const ids: number[] = [];
  let value = 0;
  for (const byte of node.content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      ids.push(value);
      value = 0;
    }
  }
  const first = ids[0] ?? 0;
  const arc = Math.min(2, Math.floor(first / 40));
  return [arc, first - arc * 40, ...ids.slice(1)].join('.');
}

/** BIT STRING contents without the unused-bits byte. */
export function bitStringBytes(node: DerNode): Buffer {
  return node.content.subarray(1);
}

function malformed(what: string, why: string): AmbitError {
  return new AmbitError('AMBIT_E_CERT', `malformed ${what}: ${why}`, {
    hint: 'the PEM/DER data is corrupt or not the expected structure',
  });
}
