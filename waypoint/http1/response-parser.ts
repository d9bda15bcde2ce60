// An incremental HTTP/1.x response parser for the waypoint's upstream client: bytes from an
// upstream (any server, so outside bytes) in, a head, body chunks and the end out. Bounded:
// the head (status line + headers) and each trailer section may not exceed `maxHeadBytes`,
// a head may carry at most `maxHeaders` fields and a response at most a few 1xx heads; a
// chunk-size line is at most 1 KiB. Framing follows RFC 9112 §6.3: no body for HEAD, 1xx,
// 204 and 304; Transfer-Encoding ending in chunked; else Content-Length; else until close.
// Body chunks are views of the input buffers (no copy).
import { BodyReader, EMPTY, gatherSection } from './body-framing.js';
import { listTokens, readFieldLine } from './field-line.js';

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

export class Http1ParseError extends Error {
  readonly code = 'AMBIT_E_UPSTREAM_HTTP1';
  constructor(message: string) {
    super(`upstream sent a malformed response: ${message}`);
  }
}

const enum State {
  Head,
  Body,
  UntilClose,
  Done,
}

const refuse = (why: string): Error => new Http1ParseError(why);

// eslint-disable-next-line no-control-regex -- the reason phrase may not carry controls
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\0-\x08\x0a-\x1f\x7f]*)?$/;

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
  private informational = 0;
  private readonly body: BodyReader;
  private noBody = false;
  /** Whether the body ran until close (the connection is then done). */
  untilClose = false;

  constructor(
    private readonly events: ResponseEvents,
    private readonly limits: ResponseParserLimits = DEFAULT_RESPONSE_LIMITS,
    /** Fields read for framing but left out of the head's headers (a proxy's hop-by-hop ones). */
    private readonly omit?: ReadonlySet<string>,
  ) {
    this.body = new BodyReader(
      { onBody: (chunk) => events.onBody(chunk), onBodyEnd: (trailers) => this.bodyEnded(trailers) },
      refuse,
      limits.maxHeadBytes,
    );
  }

  /** Expect the response to a new request (`headRequest`: a HEAD, whose response has no body). */
  reset(headRequest: boolean): void {
    this.state = State.Head;
    this.pending = undefined;
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
    let data: Buffer | undefined = chunk;
    while (data !== undefined && data.length > 0) {
      switch (this.state) {
        case State.Done:
          return data;
        case State.Head:
          data = this.head(data);
          break;
        case State.Body:
          data = this.body.feed(data);
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

  private finish(): void {
    this.state = State.Done;
    this.pending = undefined;
    this.events.onEnd();
  }

  private head(data: Buffer): Buffer {
    const got = gatherSection(this.pending, data, this.limits.maxHeadBytes, false, refuse, 'response head');
    if ('held' in got) {
      this.pending = got.held;
      return EMPTY;
    }
    this.pending = undefined;
    const rest = got.rest;
    const lines = got.section.toString('latin1').split('\r\n');
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
      const { key, value } = readFieldLine(lines[i]!, 'header', refuse);
      if (key === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== value))
          throw new Http1ParseError('bad content-length');
        contentLength = value;
      } else if (key === 'transfer-encoding') transferEncoding += transferEncoding ? `,${value}` : value;
      else if (key === 'connection') connection += `,${value}`;
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
    const tokens = listTokens(connection);
    let keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
    if (this.noBody || status === 204 || status === 304) {
      this.events.onHead({ status, headers, keepAlive });
      this.finish();
      return rest;
    }
    let empty = false;
    if (transferEncoding) {
      const codings = listTokens(transferEncoding);
      // Both framings at once is a smuggling shape: follow Transfer-Encoding, never reuse.
      if (contentLength !== undefined) keepAlive = false;
      if (codings[codings.length - 1] === 'chunked') {
        this.body.chunked();
        this.state = State.Body;
      } else this.state = State.UntilClose;
    } else if (contentLength !== undefined) {
      const length = Number(contentLength);
      if (length > 0) {
        this.body.length(length);
        this.state = State.Body;
      } else empty = true;
    } else this.state = State.UntilClose;
    if (this.state === State.UntilClose) {
      keepAlive = false;
      this.untilClose = true;
    }
    this.events.onHead({ status, headers, keepAlive });
    if (empty) this.finish();
    return rest;
  }

  /** Trailer fields after the last chunk are checked (bounded) and dropped, as node:http's client did. */
  private bodyEnded(section: Buffer | undefined): void {
    if (section) for (const line of section.toString('latin1').split('\r\n')) readFieldLine(line, 'trailer', refuse);
    this.finish();
  }
}
