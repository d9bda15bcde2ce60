// An incremental HTTP/1.x request parser for the waypoint's own server on tunnel streams:
// bytes from a client (outside bytes) in, a head, body chunks and the end out, one request at
// a time. Bounded: the head (request line + fields) and a trailer section may not exceed
// `maxHeadBytes` (431), a head may carry at most `maxHeaders` fields (431); a chunk-size line
// is at most 1 KiB. Framing and smuggling rules follow RFC 9112 §6: Transfer-Encoding must end
// in chunked and may not come with Content-Length, in HTTP/1.1 only; one Content-Length, digits
// only; obs-fold, whitespace before the colon and bare CR/LF are refused. The headers object is
// node:http's: lower-case names, Set-Cookie an array, Cookie joined with "; ", the fields node
// keeps once (Host, Content-Type, ...) keep their first value, the others joined with ", ".
// Body chunks are views of the input buffers (no copy).
import { METHODS } from 'node:http';

export type Fields = Record<string, string | string[]>;

export interface RequestHead {
  readonly method: string;
  /** The request target as sent (latin1). */
  readonly url: string;
  readonly minor: 0 | 1;
  readonly headers: Fields;
  /** The client allows another request on this connection after this one. */
  readonly keepAlive: boolean;
  /** `Expect` in HTTP/1.1: 100-continue, anything else, or none. */
  readonly expect: 'continue' | 'other' | undefined;
}

export interface RequestParserLimits {
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
}

/** node:http's limits on the tunnel today: a 64 KiB head, 2000 fields. */
export const DEFAULT_REQUEST_LIMITS: RequestParserLimits = { maxHeadBytes: 64 * 1024, maxHeaders: 2000 };

const MAX_CHUNK_LINE = 1024;

/** A request the server cannot read: answered with `status`, then the connection closes. */
export class Http1RequestError extends Error {
  readonly code = 'AMBIT_E_DOWNSTREAM_HTTP1';
  constructor(
    readonly status: 400 | 431,
    message: string,
  ) {
    super(`malformed request: ${message}`);
  }
}

export interface RequestEvents {
  onHead(head: RequestHead): void;
  onBody(chunk: Buffer): void;
  /** The request is complete; `trailers` when a chunked body ended with some. */
  onEnd(trailers: Fields | undefined): void;
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  Done,
}

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, space and tab; no other control characters.
// eslint-disable-next-line no-control-regex -- the control characters are what is checked for
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
// method SP request-target SP HTTP-version; the target has no controls and no spaces.
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\0-\x20\x7f]+) HTTP\/1\.([01])$/;
const DIGITS = /^\d{1,15}$/;
// eslint-disable-next-line no-control-regex -- chunk extensions may not carry controls either
const CHUNK_LINE = /^([0-9a-fA-F]{1,13})[ \t]*(?:;[^\0-\x08\x0a-\x1f\x7f]*)?$/;
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

/** Fields node:http keeps only the first of. */
const FIRST_ONLY: ReadonlySet<string> = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

function addField(fields: Fields, key: string, value: string): void {
  const had = fields[key];
  if (had === undefined) fields[key] = key === 'set-cookie' ? [value] : value;
  else if (Array.isArray(had)) had.push(value);
  else if (FIRST_ONLY.has(key)) return;
  else fields[key] = key === 'cookie' ? `${had}; ${value}` : `${had}, ${value}`;
}

/** The value of a field line from `from`, optional whitespace (SP, HTAB) around it removed. */
function fieldValue(line: string, from: number): string {
  let start = from;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === 32 || line.charCodeAt(start) === 9)) start++;
  while (end > start && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === line.length ? line : line.slice(start, end);
}

/** Comma-separated tokens of a field, lower case, whitespace trimmed. */
function tokens(value: string): string[] {
  return value
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
}

/** Field lines (no request line) into `fields`; returns the framing fields seen. */
function readFields(
  lines: string[],
  from: number,
  fields: Fields,
  what: string,
): { contentLength?: string; transferEncoding?: string; connection?: string } {
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // A leading space or tab is obs-fold (or whitespace before a name): refused either way.
    if (colon <= 0) throw new Http1RequestError(400, `bad ${what} line`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new Http1RequestError(400, `bad ${what} name`);
    const value = fieldValue(line, colon + 1);
    if (BAD_VALUE.test(value)) throw new Http1RequestError(400, `bad value of ${name}`);
    const key = name.toLowerCase();
    if (key === 'content-length') {
      if (contentLength !== undefined || !DIGITS.test(value)) throw new Http1RequestError(400, 'bad content-length');
      contentLength = value;
    } else if (key === 'transfer-encoding')
      transferEncoding = transferEncoding ? `${transferEncoding},${value}` : value;
    else if (key === 'connection') connection = connection ? `${connection},${value}` : value;
    addField(fields, key, value);
  }
  return { contentLength, transferEncoding, connection };
}

/**
 * One request at a time: `feed` every chunk read; once a request ended (`done`), `feed`
 * returns the bytes after it and reads nothing more until `next()`, which the server calls when
 * the response is finished (pipelined requests wait). Errors throw Http1RequestError.
 */
export class RequestParser {
  private state = State.Head;
  private pending: Buffer | undefined;
  private remaining = 0;
  /** Bytes of the current message seen (a head begun, or more). */
  private started = false;

  constructor(
    private readonly events: RequestEvents,
    private readonly limits: RequestParserLimits = DEFAULT_REQUEST_LIMITS,
  ) {}

  /** The last request ended: nothing is read until `next()`. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** No byte of a request is held or in progress: between requests. */
  get idle(): boolean {
    return this.state === State.Head && !this.started;
  }

  /** Expect the next request. */
  next(): void {
    this.state = State.Head;
    this.pending = undefined;
    this.remaining = 0;
    this.started = false;
  }

  feed(chunk: Buffer): Buffer | undefined {
    let data = chunk;
    if (data.length > 0) this.started = true;
    while (data.length > 0) {
      switch (this.state) {
        case State.Done:
          return data;
        case State.Head:
          data = this.head(data);
          break;
        case State.Length:
          data = this.bodyPart(data);
          if (this.remaining === 0) this.finish(undefined);
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
      }
    }
    return this.state === State.Done ? EMPTY : undefined;
  }

  private bodyPart(data: Buffer): Buffer {
    const n = Math.min(this.remaining, data.length);
    this.remaining -= n;
    this.events.onBody(n === data.length ? data : data.subarray(0, n));
    return data.subarray(n);
  }

  private finish(trailers: Fields | undefined): void {
    this.state = State.Done;
    this.pending = undefined;
    this.events.onEnd(trailers);
  }

  /**
   * Gathers a section ending in an empty line; returns [section or undefined, rest]. A head
   * may be preceded by empty lines (RFC 9112 §2.2): skipped, but counted in its size.
   */
  private section(data: Buffer, skipEmptyLines: boolean): [Buffer | undefined, Buffer] {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    let skip = 0;
    if (skipEmptyLines) while (joined[skip] === 13 && joined[skip + 1] === 10) skip += 2;
    // Search from just before the new bytes: the terminator may straddle the two.
    const from = this.pending ? Math.max(skip, this.pending.length - 3) : skip;
    const at = joined.indexOf(CRLF2, from);
    if (at < 0) {
      if (joined.length > this.limits.maxHeadBytes) throw new Http1RequestError(431, 'head larger than the limit');
      this.pending = joined;
      return [undefined, EMPTY];
    }
    if (at + 4 > this.limits.maxHeadBytes) throw new Http1RequestError(431, 'head larger than the limit');
    this.pending = undefined;
    return [joined.subarray(skip, at), joined.subarray(at + 4)];
  }

  private head(data: Buffer): Buffer {
    const [section, rest] = this.section(data, true);
    if (!section) return rest;
    const lines = section.toString('latin1').split('\r\n');
    const requestLine = REQUEST_LINE.exec(lines[0]!);
    if (!requestLine) throw new Http1RequestError(400, 'bad request line');
    const method = requestLine[1]!;
    if (!KNOWN_METHODS.has(method)) throw new Http1RequestError(400, 'unknown method');
    const minor = requestLine[3] === '1' ? 1 : 0;
    if (lines.length - 1 > this.limits.maxHeaders) throw new Http1RequestError(431, 'too many header fields');
    // No prototype: a field named `constructor` or `__proto__` is just a field.
    const headers = Object.create(null) as Fields;
    const framing = readFields(lines, 1, headers, 'header');
    if (minor === 1 && headers.host === undefined) throw new Http1RequestError(400, 'no host');
    const connection = framing.connection ? tokens(framing.connection) : [];
    const keepAlive = minor === 1 ? !connection.includes('close') : connection.includes('keep-alive');
    const expectValue = headers.expect;
    const expect =
      minor === 1 && typeof expectValue === 'string' ? (CONTINUE.test(expectValue) ? 'continue' : 'other') : undefined;
    let body = State.Done;
    if (framing.transferEncoding !== undefined) {
      // Both framings, chunked not last (or twice), or HTTP/1.0: the length is not reliable.
      const codings = tokens(framing.transferEncoding);
      if (framing.contentLength !== undefined)
        throw new Http1RequestError(400, 'transfer-encoding with content-length');
      if (minor === 0) throw new Http1RequestError(400, 'transfer-encoding in HTTP/1.0');
      if (codings.indexOf('chunked') !== codings.length - 1) throw new Http1RequestError(400, 'bad transfer-encoding');
      body = State.ChunkSize;
    } else if (framing.contentLength !== undefined) {
      this.remaining = Number(framing.contentLength);
      if (this.remaining > 0) body = State.Length;
    }
    this.state = body;
    this.events.onHead({ method, url: requestLine[2]!, minor, headers, keepAlive, expect });
    if (body === State.Done) this.finish(undefined);
    return rest;
  }

  private chunkSize(data: Buffer): Buffer {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    const lf = joined.indexOf(10);
    if (lf < 0) {
      if (joined.length > MAX_CHUNK_LINE) throw new Http1RequestError(400, 'chunk size line too long');
      this.pending = joined;
      return EMPTY;
    }
    if (lf > MAX_CHUNK_LINE || lf === 0 || joined[lf - 1] !== 13)
      throw new Http1RequestError(400, 'bad chunk size line');
    this.pending = undefined;
    const line = CHUNK_LINE.exec(joined.toString('latin1', 0, lf - 1));
    if (!line) throw new Http1RequestError(400, 'bad chunk size');
    this.remaining = parseInt(line[1]!, 16);
    this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
    return joined.subarray(lf + 1);
  }

  private chunkDataEnd(data: Buffer): Buffer {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    if (joined[0] !== 13 || (joined.length > 1 && joined[1] !== 10))
      throw new Http1RequestError(400, 'chunk not followed by CRLF');
    if (joined.length < 2) {
      this.pending = joined;
      return EMPTY;
    }
    this.pending = undefined;
    this.state = State.ChunkSize;
    return joined.subarray(2);
  }

  /** The trailer section after the last chunk: none (a bare CRLF) or fields up to an empty line. */
  private trailers(data: Buffer): Buffer {
    const joined = this.pending ? Buffer.concat([this.pending, data]) : data;
    if (joined[0] === 13 && joined.length === 1) {
      this.pending = joined;
      return EMPTY;
    }
    if (joined[0] === 13 && joined[1] === 10) {
      this.finish(undefined);
      return joined.subarray(2);
    }
    this.pending = undefined;
    // A trailer section is "fields CRLF CRLF": searched for as a head is, within the same limit.
    const [section, rest] = this.section(joined, false);
    if (!section) return rest;
    const lines = section.toString('latin1').split('\r\n');
    if (lines.length > this.limits.maxHeaders) throw new Http1RequestError(431, 'too many trailer fields');
    const fields = Object.create(null) as Fields;
    const framing = readFields(lines, 0, fields, 'trailer');
    // Framing in trailers means nothing and may confuse a later hop: refused as llhttp does not parse it.
    if (framing.contentLength !== undefined || framing.transferEncoding !== undefined)
      throw new Http1RequestError(400, 'framing field in trailers');
    this.finish(fields);
    return rest;
  }
}
