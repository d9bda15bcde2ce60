// DNS messages on the wire (RFC 1035 §4): the header, questions and resource records. The
// bytes come from pods and from upstream resolvers, so decoding is bounded: a message is at
// most MAX_MESSAGE bytes, a name at most 255 octets and 127 labels, a compression pointer
// must point strictly backwards (no loops) and at most MAX_POINTERS are followed per name,
// and section counts are checked against the bytes present. Anything else throws
// AmbitError('AMBIT_E_DNS'); callers drop that one message.
import { isIP } from 'node:net';
import { AmbitError } from '../errors.js';

/** Largest message over TCP (two-byte length prefix); UDP messages are smaller. */
export const MAX_MESSAGE = 65_535;
export const MAX_NAME_OCTETS = 255;
export const MAX_LABEL = 63;
export const MAX_POINTERS = 32;
const HEADER = 12;

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const OPCODE_QUERY = 0;

export interface DnsQuestion {
  /** As sent (case kept, for the echo in an answer), without the trailing dot; '' is the root. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  /** Raw record data (a compressed name inside it is not expanded). */
  readonly data: Uint8Array;
}

export interface DnsMessage {
  readonly id: number;
  /** QR: a response. */
  readonly response: boolean;
  readonly opcode: number;
  readonly authoritative: boolean;
  readonly truncated: boolean;
  readonly recursionDesired: boolean;
  readonly recursionAvailable: boolean;
  readonly rcode: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  readonly additionals: readonly DnsRecord[];
}

function formErr(reason: string): never {
  throw new AmbitError('AMBIT_E_DNS', `malformed DNS message: ${reason}`, {
    hint: 'the message is dropped; the sender gets no answer for it',
  });
}

/** Reads one (possibly compressed) name at `offset`; returns it and the offset after it in place. */
function readName(buf: Uint8Array, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let octets = 1; // the root label
  let pos = offset;
  let next = -1;
  let jumps = 0;
  for (;;) {
    if (pos >= buf.length) formErr('name runs past the end');
    const len = buf[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) formErr('compression pointer runs past the end');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      // Strictly backwards from where this pointer sits: a pointer can never reach itself again.
      if (target >= pos) formErr('compression pointer does not point backwards');
      if (++jumps > MAX_POINTERS) formErr('too many compression pointers');
      if (next < 0) next = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) formErr('unknown label type');
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) formErr('label runs past the end');
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) formErr('name longer than 255 octets');
    labels.push(Buffer.from(buf.subarray(pos + 1, pos + 1 + len)).toString('latin1'));
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

function u16(buf: Uint8Array, at: number): number {
  if (at + 2 > buf.length) formErr('section runs past the end');
  return (buf[at]! << 8) | buf[at + 1]!;
}

function u32(buf: Uint8Array, at: number): number {
  if (at + 4 > buf.length) formErr('section runs past the end');
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** The header's id, when at least two bytes are there (to answer FORMERR to a bad query). */
export function messageId(buf: Uint8Array): number | undefined {
  return buf.length >= 2 ? (buf[0]! << 8) | buf[1]! : undefined;
}

/** Decode a whole message; throws AmbitError('AMBIT_E_DNS') on anything malformed. */
export function decodeMessage(buf: Uint8Array): DnsMessage {
  if (buf.length > MAX_MESSAGE) formErr(`longer than ${MAX_MESSAGE} bytes`);
  if (buf.length < HEADER) formErr('shorter than the 12-byte header');
  const flags = u16(buf, 2);
  const counts = [u16(buf, 4), u16(buf, 6), u16(buf, 8), u16(buf, 10)];
  // A question takes at least 5 bytes and a record at least 11: counts the bytes cannot hold are lies.
  const least = counts[0]! * 5 + (counts[1]! + counts[2]! + counts[3]!) * 11;
  if (least > buf.length - HEADER) formErr('section counts exceed the message');
  let pos = HEADER;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]!; i++) {
    const { name, next } = readName(buf, pos);
    questions.push({ name, type: u16(buf, next), class: u16(buf, next + 2) });
    pos = next + 4;
  }
  const sections: DnsRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const { name, next } = readName(buf, pos);
      const type = u16(buf, next);
      const cls = u16(buf, next + 2);
      const ttl = u32(buf, next + 4);
      const len = u16(buf, next + 8);
      const start = next + 10;
      if (start + len > buf.length) formErr('record data runs past the end');
      sections[s]!.push({ name, type, class: cls, ttl, data: buf.slice(start, start + len) });
      pos = start + len;
    }
  }
  if (pos !== buf.length) formErr('bytes after the last record');
  return {
    id: u16(buf, 0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: sections[2]!,
  };
}

function encodeName(name: string, out: number[]): void {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  let octets = 1;
  if (trimmed !== '') {
    for (const label of trimmed.split('.')) {
      const bytes = Buffer.from(label, 'latin1');
      if (bytes.length === 0 || bytes.length > MAX_LABEL)
        throw new AmbitError('AMBIT_E_DNS', `cannot encode the name "${name}": label of ${bytes.length} octets`);
      octets += bytes.length + 1;
      out.push(bytes.length, ...bytes);
    }
  }
  if (octets > MAX_NAME_OCTETS) throw new AmbitError('AMBIT_E_DNS', `cannot encode the name "${name}": too long`);
  out.push(0);
}

const push16 = (out: number[], v: number): void => {
  out.push((v >> 8) & 0xff, v & 0xff);
};

/** Encode a message (names uncompressed). */
export function encodeMessage(m: DnsMessage): Buffer {
  const out: number[] = [];
  push16(out, m.id);
  const flags =
    (m.response ? 0x8000 : 0) |
    ((m.opcode & 0xf) << 11) |
    (m.authoritative ? 0x0400 : 0) |
    (m.truncated ? 0x0200 : 0) |
    (m.recursionDesired ? 0x0100 : 0) |
    (m.recursionAvailable ? 0x0080 : 0) |
    (m.rcode & 0xf);
  push16(out, flags);
  for (const n of [m.questions.length, m.answers.length, m.authorities.length, m.additionals.length]) push16(out, n);
  for (const q of m.questions) {
    encodeName(q.name, out);
    push16(out, q.type);
    push16(out, q.class);
  }
  for (const r of [...m.answers, ...m.authorities, ...m.additionals]) {
    encodeName(r.name, out);
    push16(out, r.type);
    push16(out, r.class);
    out.push((r.ttl >>> 24) & 0xff, (r.ttl >>> 16) & 0xff, (r.ttl >>> 8) & 0xff, r.ttl & 0xff);
    push16(out, r.data.length);
    for (const b of r.data) out.push(b);
  }
  if (out.length > MAX_MESSAGE) throw new AmbitError('AMBIT_E_DNS', 'encoded message longer than 65535 bytes');
  return Buffer.from(out);
}

/** A query for one name (what a stub resolver sends). */
export function queryMessage(id: number, name: string, type: number): DnsMessage {
  return {
    id,
    response: false,
    opcode: OPCODE_QUERY,
    authoritative: false,
    truncated: false,
    recursionDesired: true,
    recursionAvailable: false,
    rcode: RCODE.NOERROR,
    questions: [{ name: name.replace(/\.$/, ''), type, class: CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

/** An A or AAAA record for an IP literal. */
export function addressRecord(name: string, ip: string, ttl: number): DnsRecord {
  const family = isIP(ip);
  if (family === 4) {
    return { name, type: TYPE.A, class: CLASS_IN, ttl, data: Uint8Array.from(ip.split('.').map(Number)) };
  }
  if (family === 6) return { name, type: TYPE.AAAA, class: CLASS_IN, ttl, data: ipv6Bytes(ip) };
  throw new AmbitError('AMBIT_E_DNS', `not an IP literal: "${ip}"`);
}

/** The 16 bytes of an IPv6 literal (with `::` and an embedded IPv4 tail). */
export function ipv6Bytes(ip: string): Uint8Array {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const groups = (part: string | undefined): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = g.split('.').map(Number);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = (g >> 8) & 0xff;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/** The IP literal in an A or AAAA record's data, undefined for other sizes. */
export function recordAddress(r: DnsRecord): string | undefined {
  if (r.type === TYPE.A && r.data.length === 4) return [...r.data].join('.');
  if (r.type === TYPE.AAAA && r.data.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((r.data[i]! << 8) | r.data[i + 1]!).toString(16));
    return parts.join(':');
  }
  return undefined;
}
