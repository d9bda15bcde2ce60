// Reads the server name (SNI) of a TLS ClientHello without consuming it, for PASSTHROUGH
// servers: the gateway picks the route by name and forwards the untouched bytes. Outside
// bytes: every length is checked against what was read, and at most one TLS record of
// MAX_CLIENT_HELLO_BYTES is looked at.

/** A ClientHello larger than one full TLS record is not read (RFC 8446: records ≤ 2^14 bytes). */
export const MAX_CLIENT_HELLO_BYTES = 5 + 16_384;

export type SniResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'not-tls' }
  | { readonly kind: 'hello'; readonly serverName: string | undefined };

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const HOST_NAME = 0;

class Reader {
  constructor(
    private readonly b: Buffer,
    public at: number,
    private readonly end: number,
  ) {}
  has(n: number): boolean {
    return this.at + n <= this.end;
  }
  u8(): number {
    return this.b[this.at++]!;
  }
  u16(): number {
    const v = this.b.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  skip(n: number): void {
    this.at += n;
  }
  /** A length-prefixed vector's bounds, or undefined when it runs past the end. */
  vector(lengthBytes: 1 | 2): { start: number; end: number } | undefined {
    if (!this.has(lengthBytes)) return undefined;
    const len = lengthBytes === 1 ? this.u8() : this.u16();
    if (!this.has(len)) return undefined;
    const start = this.at;
    this.at += len;
    return { start, end: start + len };
  }
}

/**
 * `head` is what arrived so far. `need-more` until the first record is complete (the caller
 * stops waiting at MAX_CLIENT_HELLO_BYTES or a deadline); `not-tls` for anything that is not
 * one well-formed ClientHello record; `hello` with the host name, if the client sent one.
 */
export function readSni(head: Buffer): SniResult {
  if (head.length < 5) return head.length > 0 && head[0] !== HANDSHAKE ? { kind: 'not-tls' } : { kind: 'need-more' };
  if (head[0] !== HANDSHAKE || head[1] !== 3) return { kind: 'not-tls' };
  const recordLength = head.readUInt16BE(3);
  if (recordLength === 0 || recordLength > MAX_CLIENT_HELLO_BYTES - 5) return { kind: 'not-tls' };
  if (head.length < 5 + recordLength) return { kind: 'need-more' };
  const r = new Reader(head, 5, 5 + recordLength);
  if (!r.has(4) || r.u8() !== CLIENT_HELLO) return { kind: 'not-tls' };
  // A ClientHello split over several records is not followed: it must fit in the first.
  const helloLength = (r.u8() << 16) | r.u16();
  if (!r.has(helloLength)) return { kind: 'not-tls' };
  const hello = new Reader(head, r.at, r.at + helloLength);
  if (!hello.has(2 + 32)) return { kind: 'not-tls' };
  hello.skip(2 + 32); // legacy_version, random
  if (!hello.vector(1) || !hello.vector(2) || !hello.vector(1)) return { kind: 'not-tls' };
  if (!hello.has(2)) return { kind: 'hello', serverName: undefined }; // no extensions
  const extensions = hello.vector(2);
  if (!extensions) return { kind: 'not-tls' };
  const ext = new Reader(head, extensions.start, extensions.end);
  while (ext.has(4)) {
    const type = ext.u16();
    const body = ext.vector(2);
    if (!body) return { kind: 'not-tls' };
    if (type !== EXT_SERVER_NAME) continue;
    const list = new Reader(head, body.start, body.end);
    const names = list.vector(2);
    if (!names) return { kind: 'not-tls' };
    const entry = new Reader(head, names.start, names.end);
    while (entry.has(1)) {
      const nameType = entry.u8();
      const name = entry.vector(2);
      if (!name) return { kind: 'not-tls' };
      if (nameType !== HOST_NAME) continue;
      const text = head.toString('latin1', name.start, name.end);
      // RFC 6066: ASCII, no trailing dot; anything else is not a name we route by.
      if (text.length === 0 || text.length > 253 || !/^[A-Za-z0-9.*_-]+$/.test(text) || text.endsWith('.'))
        return { kind: 'hello', serverName: undefined };
      return { kind: 'hello', serverName: text.toLowerCase() };
    }
    return { kind: 'hello', serverName: undefined };
  }
  return { kind: 'hello', serverName: undefined };
}
