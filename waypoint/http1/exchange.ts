// The request and response objects of the waypoint's own HTTP/1 server, in the shape of
// node:http's IncomingMessage and ServerResponse as far as the request handler and the body
// filters use them: the request is a Readable of the body with method, url, headers,
// httpVersion, trailers and the tunnel stream as `socket`; the response takes writeHead,
// write/end (also as a pipe destination, with backpressure), addTrailers and destroy, and
// emits 'finish' then 'close' once sent ('close' alone when the connection went first).
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import type { Fields, RequestHead } from './request-parser.js';
import { chunkLine, fieldLines, responseHead, type HeaderValue, type ResponseFraming } from './response-head.js';

/** What a request and its response need of their connection. */
export interface ExchangeConnection {
  readonly stream: Duplex;
  /** Whether responses must close the connection (the server is draining). */
  readonly draining: boolean;
  /** Writes bytes of the current response; false when the stream asks to wait for 'drain'. */
  send(bytes: Buffer): boolean;
  /** The response wrote its last bytes; finished once they are flushed. */
  responseEnded(res: Http1Response): void;
  /** The request's reader wants more of the body. */
  readMore(): void;
  /** Ends the connection at once (both exchanges fail). */
  destroy(): void;
}

function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

export class Http1Request extends Readable {
  readonly method: string;
  readonly url: string;
  /** As node:http's (see request-parser.ts): Host and the other single fields are strings. */
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: '1.0' | '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: 0 | 1;
  /** The tunnel stream: what `tunnelInfoOf` reads the tunnel's facts from. */
  readonly socket: Duplex;
  /** Trailer fields of a chunked body, once it ended. */
  trailers: Fields = {};
  /** The whole body was received. */
  complete = false;
  /** The connection ended before the body did. */
  aborted = false;

  constructor(
    private readonly conn: ExchangeConnection,
    head: RequestHead,
  ) {
    super();
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers as IncomingHttpHeaders;
    this.httpVersionMinor = head.minor;
    this.httpVersion = head.minor === 1 ? '1.1' : '1.0';
    this.socket = conn.stream;
  }

  override _read(): void {
    this.conn.readMore();
  }

  /** The connection went before the body ended. */
  abort(): void {
    if (this.complete || this.destroyed) return;
    this.aborted = true;
    this.emit('aborted');
    this.destroy(abortedError());
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // A request destroyed before its end takes the connection with it (as node:http's does);
    // an error is only raised to readers that listen for one.
    if (!this.complete && !this.aborted) this.conn.destroy();
    callback(err && this.listenerCount('error') > 0 ? err : null);
  }

  /** The response is done while the body still comes: it is read on and dropped. */
  dump(): void {
    this.removeAllListeners('data');
    this.resume();
  }
}

type WriteCallback = (err?: Error | null) => void;

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n';

export class Http1Response extends EventEmitter {
  statusCode = 200;
  /** The head was given (writeHead, or the first write). */
  headersSent = false;
  /** end() was called. */
  writableEnded = false;
  /** Everything was handed to the stream and flushed. */
  writableFinished = false;
  /** A write returned false; 'drain' follows. */
  writableNeedDrain = false;
  private framing: ResponseFraming | undefined;
  /** The head waits here to go out with the first body bytes (one DATA frame in a tunnel). */
  private unsentHead: string | undefined;
  private trailerLines = '';
  private destroyedConn = false;
  /** A body given to sendBody, paused until the stream drains. */
  private pausedBody: Readable | undefined;

  constructor(
    private readonly conn: ExchangeConnection,
    private readonly request: { readonly minor: 0 | 1; readonly isHead: boolean; readonly close: boolean },
  ) {
    super();
  }

  get writable(): boolean {
    return !this.writableEnded && !this.destroyedConn;
  }

  /** The connection closes after this response. */
  get closesConnection(): boolean {
    return this.framing?.close ?? this.request.close;
  }

  writeHead(statusCode: number, headers?: Readonly<Record<string, HeaderValue>>): this {
    if (this.headersSent) throw Object.assign(new Error('headers already sent'), { code: 'ERR_HTTP_HEADERS_SENT' });
    // Built (and checked) before anything changes: a bad header leaves the response unsent.
    const framing = responseHead(statusCode, headers, {
      minor: this.request.minor,
      head: this.request.isHead,
      close: this.request.close || this.conn.draining,
    });
    this.statusCode = statusCode;
    this.framing = framing;
    this.unsentHead = framing.head;
    this.headersSent = true;
    return this;
  }

  addTrailers(trailers: Readonly<Record<string, HeaderValue>>): void {
    // As node:http: trailers go out only with a chunked body; checked either way.
    for (const name in trailers) this.trailerLines += fieldLines(name, trailers[name]);
  }

  write(chunk: Buffer | string, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    if (this.writableEnded || this.destroyedConn) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const callback = typeof encoding === 'function' ? encoding : cb;
    const body =
      typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk;
    const out = this.frame(body, false);
    const ok = out.length > 0 ? this.conn.send(out) : true;
    if (!ok) this.writableNeedDrain = true;
    if (callback) process.nextTick(callback);
    return ok;
  }

  end(chunk?: Buffer | string | WriteCallback, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): this {
    if (this.writableEnded || this.destroyedConn) return this;
    const callback = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb;
    let body: Buffer | undefined;
    if (typeof chunk === 'string') body = Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8');
    else if (Buffer.isBuffer(chunk)) body = chunk;
    // As node:http: a response ended before any head gets a length from its only chunk.
    if (!this.headersSent) this.writeHead(this.statusCode, { 'content-length': String(body?.length ?? 0) });
    this.writableEnded = true;
    const out = this.frame(body ?? EMPTY, true);
    if (out.length > 0) this.conn.send(out);
    if (callback) this.once('finish', callback);
    this.conn.responseEnded(this);
    return this;
  }

  /** Ends the connection (as node:http's res.destroy() destroys its socket). */
  destroy(): void {
    if (this.destroyedConn) return;
    this.destroyedConn = true;
    this.conn.destroy();
  }

  /**
   * Sends `body` as the rest of the response and ends it with the body's end: what
   * `body.pipe(res)` does, without pipe's listeners on both sides (set up and torn down per
   * response). The body is paused while the stream is behind.
   */
  sendBody(body: Readable): void {
    body.on('data', (chunk: Buffer) => {
      if (!this.write(chunk)) {
        body.pause();
        this.pausedBody = body;
      }
    });
    body.once('end', () => this.end());
  }

  /** The stream drained after a write returned false. */
  drained(): void {
    const body = this.pausedBody;
    this.pausedBody = undefined;
    body?.resume();
    if (!this.writableNeedDrain) return;
    this.writableNeedDrain = false;
    this.emit('drain');
  }

  /** Sent and flushed: 'finish', then 'close'. */
  finished(): void {
    this.writableFinished = true;
    this.emit('finish');
    this.emit('close');
  }

  /** The connection went before the response was sent. */
  connectionLost(): void {
    this.destroyedConn = true;
    this.emit('close');
  }

  /** The bytes of `body` (and the end of a chunked body when `last`), after a head not yet sent. */
  private frame(body: Buffer, last: boolean): Buffer {
    const framing = this.framing!;
    const head = this.unsentHead;
    this.unsentHead = undefined;
    const withBody = framing.body !== 'none' && body.length > 0;
    if (framing.body !== 'chunked') {
      if (head === undefined) return withBody ? body : EMPTY;
      return withBody ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
    }
    const prefix = (head ?? '') + (withBody ? chunkLine(body.length) : '');
    const suffix = (withBody ? CRLF : '') + (last ? `${LAST_CHUNK}${this.trailerLines}${CRLF}` : '');
    if (!withBody) return prefix.length + suffix.length > 0 ? Buffer.from(prefix + suffix, 'latin1') : EMPTY;
    return Buffer.concat([Buffer.from(prefix, 'latin1'), body, Buffer.from(suffix, 'latin1')]);
  }
}

const EMPTY = Buffer.alloc(0);
