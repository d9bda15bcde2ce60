// An incremental HTTP/1.x response parser for the waypoint's upstream client: bytes from an
// upstream (any server, so outside bytes) in, a head, body chunks and the end out. Bounded:
// the head (status line + headers) and each trailer section may not exceed `maxHeadBytes`,
// a head may carry at most `maxHeaders` fields and a response at most a few 1xx heads; a
// chunk-size line is at most 1 KiB. Framing follows RFC 9112 §6.3: no body for HEAD, 1xx,
// 204 and 304; Transfer-Encoding ending in chunked; else Content-Length; else until close.
// Body chunks are views of the input buffers (no copy).

export interface ResponseHead {
  readonly status: number;
  /** Lower-case names; Set-Cookie an array, other repeated fields joined with ", ". */
  readonly headers: Record<string, string | string[]>;
  /** The connection may carry another request once this response is complete. */
  readonly keepAlive: boolean;
}

export interface ResponseParserLimits {
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
}

export const DEFAULT_RESPONSE_LIMITS: ResponseParserLimits = { maxHeadBytes: 64 * 1024, maxHeaders: 256 };

/** Informational heads (100 Continue, 103 Early Hints) skipped per response before giving up. */
const MAX_INFORMATIONAL = 8;
const MAX_CHUNK_LINE = 1024;

export class Http1ParseError extends Error {
  readonly code = 'AMBIT_E_UPSTREAM_HTTP1';
  constructor(message: string) {
    super(`upstream sent a malformed response: ${message}`);
  }
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, space and tab; no other control characters.
// eslint-disable-next-line no-control-regex -- the control characters are what is checked for
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex -- as above, for the reason phrase
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\0-\x08\x0a-\x1f\x7f]*)?$/;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

export interface ResponseEvents {
  onHead(head: ResponseHead): void;
  onBody(chunk: Buffer): void;
  onEnd(): void;
}

/**
 * One response at a time: `reset(isHead)` before each request's response, then `feed` every
 * chunk read. `feed` returns the bytes of the chunk left over after the response ended (a
 * server must not send any before the next request); errors throw Http1ParseError.
 */
export class ResponseParser {
  private state = State.Done;
  private pending: Buffer | undefined;
  private remaining = 0;
  private informational = 0;
  private noBody = false;
  /** Whether the body ran until close (the connection is then done). */
  untilClose = false;

  constructor(
    private readonly events: ResponseEvents,
    private readonly limits: ResponseParserLimits = DEFAULT_RESPONSE_LIMITS,
    /** Fields read for framing but left out of the head's headers (a proxy's hop-by-hop ones). */
    private readonly omit?: ReadonlySet<string>,
  ) {}

  /** Expect the response to a new request (`headRequest`: a HEAD, whose response has no body). */
  reset(headRequest: boolean): void {
    this.state = State.Head;
    this.pending = undefined;
    this.remaining = 0;
    this.informational = 0;
    this.noBody = headRequest;
    this.untilClose = false;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /** A body without framing is being read: the end of the connection completes it. */
  get readingUntilClose(): boolean {
    return this.state === State.UntilClose;
  }

  feed(chunk: Buffer): Buffer | undefined {
    let data = chunk;
    while (data.length > 0) {
      switch (this.state) {
        case State.Done:
          return data;
        case State.Head:
          data = this.head(data);
          break;
        case State.Length:
          data = this.bodyPart(data);
          if (this.remaining === 0) this.finish();
          break;
        case State.ChunkSize:
          data = this.chunkSize(data);
          break;
        case State.ChunkData:
          data = this.bodyPart(data);
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        case State.ChunkDataEnd:
          data = this.chunkDataEnd(data);
          break;
        case State.Trailers:
          data = this.trailers(data);
          break;
        case State.UntilClose:
          this.events.onBody(data);
          return undefined;
      }
    }
    return undefined;
  }

  /** The connection ended: completes a body read until close; anything else was cut short. */
  end(): void {
    if (this.state === State.UntilClose) {
      this.finish();
      return;
    }
    if (this.state !== State.Done) throw new Http1ParseError('connection closed before the response was complete');
  }

  /** Up to `remaining` bytes of body passed on; returns the rest. */
  private bodyPart(data: Buffer): Buffer {
    const n = Math.min(this.remaining, data.length);
    this.remaining -= n;
    this.events.onBody(data.subarray(0, n));
    return data.subarray(n);
  }

  private finish(): void {
    this.state = State.Done;
    this.pending = undefined;
    this.events.onEnd();
  }

  /** Gathers a section ending in an empty line; returns [section or undefined, rest]. */
  private section(data: Buffer, what: string): [Buffer | undefined, Buffer] {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    // Search from just before the new bytes: the terminator may straddle the two.
    const from = this.pending ? Math.max(0, this.pending.length - 3) : 0;
    const at = joined.indexOf(CRLF2, from);
    if (at < 0) {
      if (joined.length > this.limits.maxHeadBytes) throw new Http1ParseError(`${what} larger than the limit`);
      this.pending = joined;
      return [undefined, EMPTY];
    }
    if (at + 4 > this.limits.maxHeadBytes) throw new Http1ParseError(`${what} larger than the limit`);
    this.pending = undefined;
    return [joined.subarray(0, at), joined.subarray(at + 4)];
  }

  private head(data: Buffer): Buffer {
    const [section, rest] = this.section(data, 'response head');
    if (!section) return rest;
    const lines = section.toString('latin1').split('\r\n');
    const statusLine = STATUS_LINE.exec(lines[0] ?? '');
    if (!statusLine) throw new Http1ParseError('bad status line');
    const minor = statusLine[1];
    const status = Number(statusLine[2]);
    if (lines.length - 1 > this.limits.maxHeaders) throw new Http1ParseError('too many header fields');
    // No prototype: a field named `constructor` or `__proto__` is just a field.
    const headers = Object.create(null) as Record<string, string | string[]>;
    let connection = '';
    let contentLength: string | undefined;
    let transferEncoding = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Http1ParseError('bad header line');
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) throw new Http1ParseError('bad header name');
      const value = line.slice(colon + 1).trim();
      if (BAD_VALUE.test(value)) throw new Http1ParseError(`bad value of ${name}`);
      const key = name.toLowerCase();
      if (key === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== value))
          throw new Http1ParseError('bad content-length');
        contentLength = value;
      } else if (key === 'transfer-encoding') transferEncoding += transferEncoding ? `,${value}` : value;
      else if (key === 'connection') connection += `,${value.toLowerCase()}`;
      if (this.omit?.has(key)) continue;
      const had = headers[key];
      if (had === undefined) headers[key] = key === 'set-cookie' ? [value] : value;
      else if (Array.isArray(had)) had.push(value);
      else if (key !== 'content-length') headers[key] = `${had}, ${value}`;
    }
    if (status < 200) {
      if (status === 101) throw new Http1ParseError('unexpected protocol switch');
      if (++this.informational > MAX_INFORMATIONAL) throw new Http1ParseError('too many informational responses');
      return rest; // still State.Head: the final response follows
    }
    const tokens = connection.split(',').map((t) => t.trim());
    let keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
    if (this.noBody || status === 204 || status === 304) {
      this.events.onHead({ status, headers, keepAlive });
      this.finish();
      return rest;
    }
    if (transferEncoding) {
      const codings = transferEncoding
        .toLowerCase()
        .split(',')
        .map((t) => t.trim());
      // Both framings at once is a smuggling shape: follow Transfer-Encoding, never reuse.
      if (contentLength !== undefined) keepAlive = false;
      if (codings[codings.length - 1] === 'chunked') this.state = State.ChunkSize;
      else this.state = State.UntilClose;
    } else if (contentLength !== undefined) {
      this.remaining = Number(contentLength);
      this.state = State.Length;
    } else this.state = State.UntilClose;
    if (this.state === State.UntilClose) {
      keepAlive = false;
      this.untilClose = true;
    }
    this.events.onHead({ status, headers, keepAlive });
    if (this.state === State.Length && this.remaining === 0) this.finish();
    return rest;
  }

  private chunkSize(data: Buffer): Buffer {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    const lf = joined.indexOf(10);
    if (lf < 0) {
      if (joined.length > MAX_CHUNK_LINE) throw new Http1ParseError('chunk size line too long');
      this.pending = joined;
      return EMPTY;
    }
    if (lf > MAX_CHUNK_LINE || lf === 0 || joined[lf - 1] !== 13) throw new Http1ParseError('bad chunk size line');
    this.pending = undefined;
    const line = joined.toString('latin1', 0, lf - 1);
    const semi = line.indexOf(';');
    const hex = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
    if (!/^[0-9a-fA-F]{1,13}$/.test(hex)) throw new Http1ParseError('bad chunk size');
    if (semi >= 0 && BAD_VALUE.test(line.slice(semi))) throw new Http1ParseError('bad chunk extension');
    this.remaining = parseInt(hex, 16);
    this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
    return joined.subarray(lf + 1);
  }

  private chunkDataEnd(data: Buffer): Buffer {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    if (joined.length < 2) {
      if (joined[0] !== 13) throw new Http1ParseError('chunk not followed by CRLF');
      this.pending = joined;
      return EMPTY;
    }
    if (joined[0] !== 13 || joined[1] !== 10) throw new Http1ParseError('chunk not followed by CRLF');
    this.pending = undefined;
    this.state = State.ChunkSize;
    return joined.subarray(2);
  }

  /** Trailer fields after the last chunk are read (bounded) and dropped, as node:http's client did. */
  private trailers(data: Buffer): Buffer {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    // No trailers: the last-chunk line is followed directly by CRLF.
    if (joined.length >= 2 && joined[0] === 13 && joined[1] === 10) {
      this.pending = undefined;
      this.finish();
      return joined.subarray(2);
    }
    if (joined.length < 2) {
      if (joined[0] !== 13) return this.trailerSection(joined);
      this.pending = joined;
      return EMPTY;
    }
    return this.trailerSection(joined);
  }

  private trailerSection(joined: Buffer): Buffer {
    this.pending = undefined;
    const [section, rest] = this.section(joined, 'trailer section');
    if (!section) return rest;
    for (const line of section.toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0 || !TOKEN.test(line.slice(0, colon)) || BAD_VALUE.test(line.slice(colon + 1)))
        throw new Http1ParseError('bad trailer line');
    }
    this.finish();
    return rest;
  }
}
