// An incremental HTTP/1.x request parser for the waypoint's own server on tunnel streams:
// bytes from a client (outside bytes) in, a head, body chunks and the end out, one request at
// a time. Bounded: the head (request line + fields) and a trailer section may not exceed
// `maxHeadBytes` (431), a head may carry at most `maxHeaders` fields (431); a chunk-size line
// is at most 1 KiB. Framing and smuggling rules follow RFC 9112 §6: Transfer-Encoding must end
// in chunked and may not come with Content-Length (in HTTP/1.0 the connection closes after the
// request); one Content-Length, digits only; obs-fold, whitespace before the colon and bare CR/LF are refused. The headers object is
// node:http's: lower-case names, Set-Cookie an array, Cookie joined with "; ", the fields node
// keeps once (Host, Content-Type, ...) keep their first value, the others joined with ", ".
// Body chunks are views of the input buffers (no copy).
import { METHODS } from 'node:http';
import { BodyReader, EMPTY, gatherSection } from './body-framing.js';
import { listTokens, readFieldLine } from './field-line.js';

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
  Body,
  Done,
}

const refuse = (why: string, tooLarge?: boolean): Error => new Http1RequestError(tooLarge ? 431 : 400, why);

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);
// method SP request-target SP HTTP-version; the target has no controls and no spaces.
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\0-\x20\x7f]+) HTTP\/1\.([01])$/;
const DIGITS = /^\d{1,15}$/;
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

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
    const { key, value } = readFieldLine(lines[i]!, what, refuse);
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
  /** Bytes of the current message seen (a head begun, or more). */
  private started = false;
  private readonly body: BodyReader;

  constructor(
    private readonly events: RequestEvents,
    private readonly limits: RequestParserLimits = DEFAULT_REQUEST_LIMITS,
  ) {
    this.body = new BodyReader(
      { onBody: (chunk) => events.onBody(chunk), onBodyEnd: (trailers) => this.bodyEnded(trailers) },
      refuse,
      limits.maxHeadBytes,
    );
  }

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
    this.started = false;
  }

  feed(chunk: Buffer): Buffer | undefined {
    let data: Buffer | undefined = chunk;
    if (data.length > 0) this.started = true;
    while (data !== undefined && data.length > 0) {
      if (this.state === State.Done) return data;
      data = this.state === State.Head ? this.head(data) : this.body.feed(data);
    }
    return this.state === State.Done ? EMPTY : undefined;
  }

  private finish(trailers: Fields | undefined): void {
    this.state = State.Done;
    this.pending = undefined;
    this.events.onEnd(trailers);
  }

  private head(data: Buffer): Buffer {
    const got = gatherSection(this.pending, data, this.limits.maxHeadBytes, true, refuse, 'head');
    if ('held' in got) {
      this.pending = got.held;
      return EMPTY;
    }
    this.pending = undefined;
    const lines = got.section.toString('latin1').split('\r\n');
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
    const connection = framing.connection ? listTokens(framing.connection) : [];
    let keepAlive = minor === 1 ? !connection.includes('close') : connection.includes('keep-alive');
    const expectValue = headers.expect;
    const expect =
      minor === 1 && typeof expectValue === 'string' ? (CONTINUE.test(expectValue) ? 'continue' : 'other') : undefined;
    let body = State.Done;
    if (framing.transferEncoding !== undefined) {
      // Both framings, or chunked not last (or twice): the length is not reliable.
      const codings = listTokens(framing.transferEncoding);
      if (framing.contentLength !== undefined)
        throw new Http1RequestError(400, 'transfer-encoding with content-length');
      // In HTTP/1.0 the framing is suspect (RFC 9112 §6.1): read as chunked (as node:http did), then close.
      if (minor === 0) keepAlive = false;
      if (codings.indexOf('chunked') !== codings.length - 1) throw new Http1RequestError(400, 'bad transfer-encoding');
      this.body.chunked();
      body = State.Body;
    } else if (framing.contentLength !== undefined) {
      const length = Number(framing.contentLength);
      if (length > 0) {
        this.body.length(length);
        body = State.Body;
      }
    }
    this.state = body;
    this.events.onHead({ method, url: requestLine[2]!, minor, headers, keepAlive, expect });
    if (body === State.Done) this.finish(undefined);
    return got.rest;
  }

  /** The body ended; a trailer section is read into fields (framing fields refused there). */
  private bodyEnded(section: Buffer | undefined): void {
    if (!section) {
      this.finish(undefined);
      return;
    }
    const lines = section.toString('latin1').split('\r\n');
    if (lines.length > this.limits.maxHeaders) throw new Http1RequestError(431, 'too many trailer fields');
    const fields = Object.create(null) as Fields;
    const framing = readFields(lines, 0, fields, 'trailer');
    // Framing in trailers means nothing and may confuse a later hop.
    if (framing.contentLength !== undefined || framing.transferEncoding !== undefined)
      throw new Http1RequestError(400, 'framing field in trailers');
    this.finish(fields);
  }
}
