// Reads the server name (SNI) and ALPN protocols of a TLS ClientHello without terminating TLS,
// for routing a connection by SNI (VirtualService `tls` routes at the waypoint, PASSTHROUGH
// servers at the ingress gateway). Pure and bounded: it never throws, never reads past the
// buffer it is given, and gives up once the hello would exceed `maxBytes`. The handshake message
// may span several TLS records (a post-quantum key share makes hellos larger than one record).

/** Largest plaintext TLS record payload (RFC 8446 5.1). */
const MAX_RECORD = 16_384;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
const NAME_TYPE_HOST = 0x00;
/** Default bound on the bytes read before the hello is complete: two full records. */
export const CLIENT_HELLO_MAX_BYTES = 2 * (RECORD_HEADER + MAX_RECORD);

export type ClientHelloResult =
  /** More bytes are needed to decide. */
  | { readonly kind: 'incomplete' }
  /** Not a TLS handshake at all (e.g. plaintext): route it as plain TCP, if at all. */
  | { readonly kind: 'not-tls' }
  /** TLS, but the hello is malformed or too large. */
  | { readonly kind: 'invalid'; readonly reason: string }
  | {
      readonly kind: 'client-hello';
      /** Lower-cased host name from the server_name extension; absent when the client sent none. */
      readonly serverName?: string;
      readonly alpn: readonly string[];
      /** Bytes of the records that carried the hello. */
      readonly bytes: number;
    };

const INCOMPLETE: ClientHelloResult = { kind: 'incomplete' };
const NOT_TLS: ClientHelloResult = { kind: 'not-tls' };
const invalid = (reason: string): ClientHelloResult => ({ kind: 'invalid', reason });

/** A bounds-checked reader over a byte range; every read returns undefined past the end. */
class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos = 0,
    private readonly end = buf.length,
  ) {}
  get remaining(): number {
    return this.end - this.pos;
  }
  u8(): number | undefined {
    return this.pos + 1 <= this.end ? this.buf[this.pos++] : undefined;
  }
  u16(): number | undefined {
    if (this.pos + 2 > this.end) return undefined;
    const v = ((this.buf[this.pos] ?? 0) << 8) | (this.buf[this.pos + 1] ?? 0);
    this.pos += 2;
    return v;
  }
  u24(): number | undefined {
    if (this.pos + 3 > this.end) return undefined;
    const v = ((this.buf[this.pos] ?? 0) << 16) | ((this.buf[this.pos + 1] ?? 0) << 8) | (this.buf[this.pos + 2] ?? 0);
    this.pos += 3;
    return v;
  }
  skip(n: number): boolean {
    if (this.pos + n > this.end) return false;
    this.pos += n;
    return true;
  }
  /** A sub-reader over the next `n` bytes, consumed from this one. */
  sub(n: number): Reader | undefined {
    if (this.pos + n > this.end) return undefined;
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
  bytes(n: number): Uint8Array | undefined {
    if (this.pos + n > this.end) return undefined;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** RFC 6066: an ASCII DNS host name, no trailing dot; compared lower-cased. */
function hostName(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > 255) return undefined;
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (!/[A-Za-z0-9._-]/.test(c)) return undefined;
    out += c;
  }
  if (out.startsWith('.') || out.endsWith('.') || out.includes('..')) return undefined;
  return out.toLowerCase();
}

/**
 * The handshake bytes carried by the leading records of `buf`, stopping once `need` bytes are
 * there. `need` is unknown (undefined) until the handshake header has been read.
 */
function handshakeBytes(
  buf: Uint8Array,
  maxBytes: number,
): { kind: 'ok'; data: Uint8Array; bytes: number } | ClientHelloResult {
  const parts: Uint8Array[] = [];
  let have = 0;
  let offset = 0;
  let need: number | undefined;
  for (;;) {
    if (offset >= maxBytes) return invalid(`client hello larger than ${maxBytes} bytes`);
    const r = new Reader(buf, offset);
    const type = r.u8();
    if (type === undefined) return INCOMPLETE;
    if (type !== CONTENT_HANDSHAKE)
      return offset === 0 ? NOT_TLS : invalid('client hello interrupted by a non-handshake record');
    const major = r.u8();
    if (major === undefined) return INCOMPLETE;
    if (major !== 0x03) return offset === 0 ? NOT_TLS : invalid('bad record version');
    if (r.u8() === undefined) return INCOMPLETE;
    const length = r.u16();
    if (length === undefined) return INCOMPLETE;
    if (length === 0 || length > MAX_RECORD) return invalid(`record length ${length} out of range`);
    const payload = r.bytes(length);
    if (offset + RECORD_HEADER + length > maxBytes) return invalid(`client hello larger than ${maxBytes} bytes`);
    if (!payload) return INCOMPLETE;
    parts.push(payload);
    have += length;
    offset += RECORD_HEADER + length;
    if (need === undefined && have >= HANDSHAKE_HEADER) {
      const head = Buffer.concat(parts);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a client hello');
      need = HANDSHAKE_HEADER + (((head[1] ?? 0) << 16) | ((head[2] ?? 0) << 8) | (head[3] ?? 0));
      if (need > maxBytes) return invalid(`client hello larger than ${maxBytes} bytes`);
    }
    if (need !== undefined && have >= need) {
      return { kind: 'ok', data: Buffer.concat(parts).subarray(0, need), bytes: offset };
    }
  }
}

/** Parses the ClientHello at the start of `buf` (the first bytes a client sent). */
export function parseClientHello(buf: Uint8Array, maxBytes = CLIENT_HELLO_MAX_BYTES): ClientHelloResult {
  const hs = handshakeBytes(buf, maxBytes);
  if (hs.kind !== 'ok') return hs;
  const r = new Reader(hs.data, HANDSHAKE_HEADER);
  // legacy_version, random
  if (!r.skip(2 + 32)) return invalid('truncated client hello');
  const sessionId = r.u8();
  if (sessionId === undefined || sessionId > 32 || !r.skip(sessionId)) return invalid('bad session id');
  const suites = r.u16();
  if (suites === undefined || suites < 2 || suites % 2 !== 0 || !r.skip(suites)) return invalid('bad cipher suites');
  const compression = r.u8();
  if (compression === undefined || compression < 1 || !r.skip(compression)) return invalid('bad compression methods');
  // A hello without extensions (SSL 3.0 style) carries no SNI.
  if (r.remaining === 0) return { kind: 'client-hello', alpn: [], bytes: hs.bytes };
  const extLength = r.u16();
  const exts = extLength === undefined ? undefined : r.sub(extLength);
  if (!exts || r.remaining !== 0) return invalid('bad extensions length');
  let serverName: string | undefined;
  let alpn: string[] = [];
  const seen = new Set<number>();
  while (exts.remaining > 0) {
    const type = exts.u16();
    const length = exts.u16();
    const body = length === undefined ? undefined : exts.sub(length);
    if (type === undefined || !body) return invalid('truncated extension');
    if (seen.has(type)) return invalid(`duplicate extension ${type}`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const parsed = parseServerName(body);
      if (typeof parsed !== 'object') return invalid(parsed);
      serverName = parsed.name;
    } else if (type === EXT_ALPN) {
      const parsed = parseAlpn(body);
      if (!parsed) return invalid('bad ALPN extension');
      alpn = parsed;
    }
  }
  return serverName === undefined
    ? { kind: 'client-hello', alpn, bytes: hs.bytes }
    : { kind: 'client-hello', serverName, alpn, bytes: hs.bytes };
}

function parseServerName(body: Reader): { name: string } | string {
  const listLength = body.u16();
  const list = listLength === undefined ? undefined : body.sub(listLength);
  if (!list || body.remaining !== 0 || list.remaining === 0) return 'bad server_name list';
  let name: string | undefined;
  while (list.remaining > 0) {
    const nameType = list.u8();
    const length = list.u16();
    const bytes = length === undefined ? undefined : list.bytes(length);
    if (nameType === undefined || !bytes) return 'truncated server_name entry';
    if (nameType !== NAME_TYPE_HOST) continue;
    // RFC 6066: at most one name of each type.
    if (name !== undefined) return 'several host names in server_name';
    name = hostName(bytes);
    if (name === undefined) return 'server_name is not a DNS host name';
  }
  return name === undefined ? 'no host name in server_name' : { name };
}

function parseAlpn(body: Reader): string[] | undefined {
  const listLength = body.u16();
  const list = listLength === undefined ? undefined : body.sub(listLength);
  if (!list || body.remaining !== 0 || list.remaining === 0) return undefined;
  const out: string[] = [];
  while (list.remaining > 0) {
    const length = list.u8();
    const bytes = length === undefined || length === 0 ? undefined : list.bytes(length);
    if (!bytes) return undefined;
    out.push(Buffer.from(bytes).toString('latin1'));
  }
  return out;
}
