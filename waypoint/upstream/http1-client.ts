// HTTP/1.1 to one endpoint over pooled keep-alive byte streams (HBONE streams, TCP or TLS
// sockets), without http.Agent and ClientRequest: the request head goes out as one Buffer
// (with a small buffered body, head and body as one write), the response is read by the
// bounded parser of waypoint/http1, and its body is a Readable fed straight from the stream
// (the stream is paused while the reader is behind). One request at a time per connection;
// a connection is reused once its request was sent and its response read, unless either
// side asked to close, the response ran until close, or it served maxRequestsPerConnection.
import net from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import {
  DEFAULT_RESPONSE_LIMITS,
  Http1ParseError,
  ResponseParser,
  type ResponseHead,
} from '../http1/response-parser.js';
import { framingOf, requestHead, type BodyFraming } from '../http1/request-head.js';
import { abortError, onCancel } from './transport-cancel.js';
import { HOP_BY_HOP } from './hop-by-hop.js';
import type { Dial, EndpointTransport, UpstreamRequest, UpstreamResponse } from './transport.js';

export interface Http1ClientOptions {
  readonly maxConnections?: number;
  readonly maxRequestsPerConnection?: number;
  /** An idle kept-alive connection is closed after this long (node's agent used 60 s too). */
  readonly idleTimeoutMs?: number;
}

/** Head and body go out as one write (one DATA frame in a tunnel) below this body size. */
const COALESCE_BODY_BYTES = 16 * 1024;
const CHUNK_END = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

function connectionClosed(): Error {
  return Object.assign(new Error('upstream connection closed'), { code: 'ECONNRESET' });
}

/** The response body: what the parser reads, pushed as it comes; reading on resumes the stream. */
class ResponseBody extends Readable {
  constructor(
    private readonly exchange: Exchange,
    /** The connection's stream (node's IncomingMessage had `socket` too). */
    readonly socket: Duplex,
  ) {
    super();
  }

  override _read(): void {
    this.exchange.resumeReading();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.exchange.bodyDestroyed();
    callback(err);
  }
}

/** One request and its response on one connection. */
class Exchange {
  conn: Connection | undefined;
  body: ResponseBody | undefined;
  requestSent = false;
  responseDone = false;
  settled = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    readonly r: UpstreamRequest,
    readonly head: Buffer,
    readonly framing: BodyFraming,
    private readonly resolve: (res: UpstreamResponse) => void,
    private readonly reject: (err: Error) => void,
    private readonly pool: Http1Client,
  ) {
    this.unsubscribe = onCancel(r.signal, () => this.cancel());
  }

  private cancel(): void {
    if (this.conn) this.conn.fail(abortError());
    else {
      this.pool.forgetWaiter(this);
      this.fail(abortError());
    }
  }

  /** Fails the request, or the response body when the head was already handed on. */
  fail(err: Error): void {
    this.release();
    if (!this.settled) {
      this.settled = true;
      this.reject(err);
    } else if (this.body && !this.responseDone && !this.body.destroyed) this.body.destroy(err);
  }

  onHead(head: ResponseHead): void {
    const body = new ResponseBody(this, this.conn!.stream);
    this.body = body;
    this.settled = true;
    // The parser left the hop-by-hop fields out already (see Connection).
    this.resolve({ status: head.status, headers: head.headers, body });
  }

  onBody(chunk: Buffer): void {
    if (this.body && !this.body.destroyed && !this.body.push(chunk)) this.conn?.stream.pause();
  }

  onEnd(): void {
    this.responseDone = true;
    this.body?.push(null);
  }

  resumeReading(): void {
    if (this.conn?.exchange === this) this.conn.stream.resume();
  }

  /** The reader went away before the end: the connection cannot carry the rest, so it goes too. */
  bodyDestroyed(): void {
    if (!this.responseDone && this.conn?.exchange === this) this.conn.fail(connectionClosed());
  }

  release(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

class Connection {
  exchange: Exchange | undefined;
  served = 0;
  alive = true;
  keepAlive = true;
  private readonly parser: ResponseParser;
  private drainWaiter: (() => void) | undefined;

  constructor(
    readonly stream: Duplex,
    private readonly pool: Http1Client,
    idleTimeoutMs: number,
  ) {
    this.parser = new ResponseParser(
      {
        onHead: (head) => {
          this.keepAlive = head.keepAlive;
          this.exchange?.onHead(head);
        },
        onBody: (chunk) => this.exchange?.onBody(chunk),
        // The connection is handed on only after feed() returns (see onData): never from inside it.
        onEnd: () => this.exchange?.onEnd(),
      },
      DEFAULT_RESPONSE_LIMITS,
      HOP_BY_HOP,
    );
    if (stream instanceof net.Socket) stream.setNoDelay(true);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // However the stream ends (end, reset, error), a body read until close is complete
    // (as node:http's client finished it); anything else in flight was cut short: a reset.
    stream.on('end', () => this.ended(connectionClosed()));
    stream.on('error', (err: Error) => this.ended(err));
    stream.on('close', () => this.ended(connectionClosed()));
    stream.on('drain', () => {
      const w = this.drainWaiter;
      this.drainWaiter = undefined;
      w?.();
    });
    (stream as Duplex & { setTimeout?: (ms: number, cb: () => void) => unknown }).setTimeout?.(idleTimeoutMs, () => {
      if (!this.exchange) this.fail(connectionClosed());
    });
  }

  private ended(err: Error): void {
    const ex = this.exchange;
    if (this.alive && ex && this.parser.readingUntilClose) {
      this.parser.end();
      this.maybeDone(ex);
    }
    // A tunnel the server ended is half-open on our side: never send into it again.
    this.fail(err);
  }

  private onData(chunk: Buffer): void {
    if (!this.exchange) {
      // Bytes nobody asked for: the server is out of step with us.
      this.fail(new Http1ParseError('bytes outside a response'));
      return;
    }
    const ex = this.exchange;
    let extra: Buffer | undefined;
    try {
      extra = this.parser.feed(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    // Bytes after the response: it stands (it was complete), the connection does not.
    if (extra && extra.length > 0) this.fail(new Http1ParseError('bytes after the response'));
    else if (ex.responseDone) this.maybeDone(ex);
  }

  send(ex: Exchange): void {
    this.exchange = ex;
    ex.conn = this;
    this.parser.reset(ex.r.method === 'HEAD');
    this.stream.resume();
    const body = ex.r.body;
    if (body === undefined) {
      this.stream.write(ex.head);
      this.requestSent(ex);
    } else if (Buffer.isBuffer(body)) {
      if (body.length <= COALESCE_BODY_BYTES) this.stream.write(Buffer.concat([ex.head, body]));
      else {
        this.stream.write(ex.head);
        this.stream.write(body);
      }
      this.requestSent(ex);
    } else {
      this.stream.write(ex.head);
      this.pump(ex, body, ex.framing.kind === 'chunked');
    }
  }

  /** A streamed request body, written with backpressure (chunked when it declared no length). */
  private pump(ex: Exchange, body: NodeJS.ReadableStream, chunked: boolean): void {
    const current = (): boolean => this.alive && this.exchange === ex;
    const onData = (chunk: Buffer | string): void => {
      if (!current()) return;
      const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (c.length === 0) return;
      const framed = chunked ? Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`, 'latin1'), c, CHUNK_END]) : c;
      if (!this.stream.write(framed)) {
        body.pause();
        this.drainWaiter = () => {
          if (current()) body.resume();
        };
      }
    };
    const onEnd = (): void => {
      cleanup();
      if (!current()) return;
      if (chunked) this.stream.write(LAST_CHUNK);
      this.requestSent(ex);
    };
    const onError = (err: Error): void => {
      cleanup();
      if (current()) this.fail(err);
    };
    const cleanup = (): void => {
      body.removeListener('data', onData);
      body.removeListener('end', onEnd);
      body.removeListener('error', onError);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.resume();
  }

  private requestSent(ex: Exchange): void {
    ex.requestSent = true;
    this.maybeDone(ex);
  }

  /** Both directions of the exchange are complete: the connection is free again (or closed). */
  private maybeDone(ex: Exchange): void {
    if (this.exchange !== ex || !ex.responseDone) return;
    if (!ex.requestSent) {
      // The server answered before it read the whole body: the rest cannot be sent on this connection.
      ex.release();
      this.exchange = undefined;
      this.fail(connectionClosed());
      return;
    }
    ex.release();
    this.exchange = undefined;
    this.served++;
    this.pool.released(this);
  }

  fail(err: Error): void {
    if (!this.alive) return;
    this.alive = false;
    const ex = this.exchange;
    this.exchange = undefined;
    this.drainWaiter = undefined;
    if (!this.stream.destroyed) this.stream.destroy();
    this.pool.lost(this);
    ex?.fail(err);
  }
}

export class Http1Client implements EndpointTransport {
  private readonly free: Connection[] = [];
  private readonly waiters: Exchange[] = [];
  private open = 0;
  private dialing = 0;
  private readonly maxConnections: number;
  private readonly maxRequests: number;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly dial: Dial,
    opts: Http1ClientOptions = {},
  ) {
    this.maxConnections = opts.maxConnections ?? 1024;
    this.maxRequests = opts.maxRequestsPerConnection ?? Infinity;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  }

  request(r: UpstreamRequest): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      if (r.signal.aborted) {
        reject(abortError());
        return;
      }
      const framing = framingOf(r.method, r.headers, r.body);
      const head = requestHead(r.method, r.path, r.authority, r.headers, framing);
      const ex = new Exchange(r, head, framing, resolve, reject, this);
      let conn = this.free.pop();
      while (conn && !conn.alive) conn = this.free.pop();
      if (conn) conn.send(ex);
      else {
        this.waiters.push(ex);
        this.grow();
      }
    });
  }

  close(): void {
    for (const c of this.free.splice(0)) c.fail(connectionClosed());
  }

  /** Dials while requests wait and the pool has room; each new connection serves the next waiter. */
  private grow(): void {
    while (this.waiters.length > this.dialing && this.open + this.dialing < this.maxConnections) {
      this.dialing++;
      this.dial().then(
        (stream) => {
          this.dialing--;
          this.open++;
          this.released(new Connection(stream, this, this.idleTimeoutMs));
        },
        (err: Error) => {
          this.dialing--;
          // The dial was for the waiters: the first of them gets its failure (the router
          // retries elsewhere); the others wait on for connections in flight, or dial again.
          this.waiters.shift()?.fail(err);
          this.grow();
        },
      );
    }
  }

  /** A connection whose exchange is over: to the next waiter, to the free list, or closed. */
  released(conn: Connection): void {
    if (!conn.alive) return;
    if (!conn.keepAlive || conn.served >= this.maxRequests) {
      conn.fail(connectionClosed());
      return;
    }
    const next = this.waiters.shift();
    if (next) conn.send(next);
    else this.free.push(conn);
  }

  lost(conn: Connection): void {
    this.open--;
    const i = this.free.indexOf(conn);
    if (i >= 0) this.free.splice(i, 1);
    this.grow();
  }

  forgetWaiter(ex: Exchange): void {
    const i = this.waiters.indexOf(ex);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}
