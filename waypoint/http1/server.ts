// The waypoint's own HTTP/1.1 server on tunnel streams (instead of node:http's http.Server,
// whose parser callbacks, ServerResponse and socket bookkeeping were the largest JS share of a
// request): bytes are read by the bounded request parser, one request at a time per
// connection (a pipelined request waits, unread, until the response before it finished),
// and answered through the node:http-shaped request and response of exchange.ts.
// As node:http did on the tunnel: `Expect: 100-continue` is answered 100 before the handler
// runs, another expectation 417; CONNECT closes the connection (no 'connect' listener), an
// Upgrade request is an ordinary request; a malformed request is answered 400 (431 for a head
// over the limit) and its connection closed, and only that one; a head not complete within
// `headersTimeoutMs` or a request not within `requestTimeoutMs` gets 408 and a close; a
// kept-alive connection idle for `keepAliveTimeoutMs` is closed. Timeouts are checked by one
// interval per server while it has connections (no timer per request).
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { Http1Request, Http1Response, type ExchangeConnection } from './exchange.js';
import {
  DEFAULT_REQUEST_LIMITS,
  Http1RequestError,
  RequestParser,
  type Fields,
  type RequestHead,
  type RequestParserLimits,
} from './request-parser.js';

export interface Http1ServerOptions {
  /** A request head must be complete this long after it began (or the connection opened). */
  readonly headersTimeoutMs?: number;
  /** A whole request must be received within this long. */
  readonly requestTimeoutMs?: number;
  /** A kept-alive connection with no request is closed after this long. */
  readonly keepAliveTimeoutMs?: number;
  readonly limits?: RequestParserLimits;
}

export type Http1Handler = (req: Http1Request, res: Http1Response) => void;

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
/** A connection ending after a refusal or a last response is destroyed if not closed by then. */
const ENDING_GRACE_MS = 5000;

function refusal(status: number): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\nconnection: close\r\n\r\n`, 'latin1');
}

class Connection implements ExchangeConnection {
  private readonly parser: RequestParser;
  private req: Http1Request | undefined;
  private res: Http1Response | undefined;
  /** Bytes after a complete request whose response is not finished: read once it is. */
  private held: Buffer | undefined;
  /** The request's reader is behind: the stream is paused until it reads on. */
  private bodyPaused = false;
  /** Writes of the current response not yet flushed. */
  private outstanding = 0;
  private peerEnded = false;
  private gone = false;
  private endingSince = 0;
  private headStartedAt: number;
  private requestStartedAt: number;
  private idleSince = 0;

  constructor(
    readonly stream: Duplex,
    private readonly server: Http1Server,
  ) {
    this.parser = new RequestParser(
      {
        onHead: (head) => this.onHead(head),
        onBody: (chunk) => this.onBody(chunk),
        onEnd: (trailers) => this.onEnd(trailers),
      },
      server.limits,
    );
    // As node:http: the first head's time runs from the connection's start.
    this.headStartedAt = this.requestStartedAt = Date.now();
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onPeerEnd());
    stream.on('close', () => this.onClose());
    stream.on('drain', () => this.res?.drained());
    // Errors end in 'close'; the owner of the stream logs them.
    stream.on('error', () => undefined);
  }

  get draining(): boolean {
    return this.server.draining;
  }

  /** No request in progress and no byte of a next one. */
  get idle(): boolean {
    return !this.res && !this.req && this.held === undefined && this.parser.idle;
  }

  send(bytes: Buffer): boolean {
    if (this.gone || this.endingSince) return false;
    this.outstanding++;
    return this.stream.write(bytes, this.written);
  }

  private readonly written = (): void => {
    this.outstanding--;
    if (this.outstanding === 0 && this.res?.writableEnded && !this.gone) this.finishResponse();
  };

  responseEnded(res: Http1Response): void {
    // Nothing left in flight (a length-framed body ended without bytes): finished, but not
    // from inside end().
    if (this.outstanding === 0)
      queueMicrotask(() => {
        if (this.res === res && !this.gone) this.finishResponse();
      });
  }

  readMore(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.flow();
  }

  destroy(): void {
    if (!this.stream.destroyed) this.stream.destroy();
  }

  checkTimeouts(now: number): void {
    if (this.gone) return;
    if (this.endingSince) {
      if (now - this.endingSince > ENDING_GRACE_MS) this.destroy();
    } else if (this.headStartedAt && now - this.headStartedAt > this.server.headersTimeoutMs) this.refuse(408);
    else if (this.requestStartedAt && now - this.requestStartedAt > this.server.requestTimeoutMs) this.refuse(408);
    else if (this.idleSince && now - this.idleSince > this.server.keepAliveTimeoutMs) this.destroy();
  }

  private flow(): void {
    if (this.gone || this.endingSince) return;
    if (this.bodyPaused || this.held !== undefined) this.stream.pause();
    else this.stream.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.gone || this.endingSince) return;
    this.parse(chunk);
  }

  private parse(chunk: Buffer): void {
    let data = chunk;
    for (;;) {
      if (this.parser.done) {
        if (this.res) {
          // Pipelined: the next request waits, unread, until this response is finished.
          this.held = this.held ? Buffer.concat([this.held, data]) : data;
          this.stream.pause();
          return;
        }
        this.parser.next();
      }
      if (this.parser.idle) {
        // A new request begins (the first one's time runs from the connection's start).
        if (!this.headStartedAt) this.headStartedAt = this.requestStartedAt = Date.now();
        this.idleSince = 0;
      }
      let rest: Buffer | undefined;
      try {
        rest = this.parser.feed(data);
      } catch (err) {
        this.refuse(err instanceof Http1RequestError ? err.status : 400);
        return;
      }
      if (this.gone || this.endingSince || rest === undefined || rest.length === 0) return;
      data = rest;
    }
  }

  private onHead(head: RequestHead): void {
    this.headStartedAt = 0;
    // node:http without a 'connect' listener closes a CONNECT's connection; so does this server.
    if (head.method === 'CONNECT') {
      this.destroy();
      return;
    }
    const req = new Http1Request(this, head);
    const res = new Http1Response(this, { minor: head.minor, isHead: head.method === 'HEAD', close: !head.keepAlive });
    this.req = req;
    this.res = res;
    if (head.expect === 'continue') this.stream.write(CONTINUE);
    else if (head.expect === 'other') {
      res.writeHead(417, { 'content-length': '0' });
      res.end();
      return;
    }
    try {
      this.server.handler(req, res);
    } catch {
      this.destroy();
    }
  }

  private onBody(chunk: Buffer): void {
    const req = this.req;
    if (!req || req.destroyed) return;
    if (!req.push(chunk)) {
      this.bodyPaused = true;
      this.stream.pause();
    }
  }

  private onEnd(trailers: Fields | undefined): void {
    this.requestStartedAt = 0;
    const req = this.req;
    this.req = undefined;
    if (!req) return;
    req.complete = true;
    if (trailers) req.trailers = trailers;
    req.push(null);
    this.bodyPaused = false;
    // The response went first (the body was dropped): idle until the next request.
    if (!this.res) this.idleSince = Date.now();
  }

  private finishResponse(): void {
    const res = this.res!;
    this.res = undefined;
    res.finished();
    if (this.gone || this.endingSince) return;
    if (res.closesConnection) {
      this.endSoon();
      return;
    }
    // The body was not read to its end: read on and dropped (node:http's dump), then the next request.
    if (this.req && !this.req.complete) this.req.dump();
    const held = this.held;
    this.held = undefined;
    if (held) this.parse(held);
    else if (this.parser.done) {
      this.parser.next();
      this.idleSince = Date.now();
    }
    if (this.peerEnded) this.settleEnd();
    this.flow();
  }

  private onPeerEnd(): void {
    this.peerEnded = true;
    // A body cut short: as node:http, 400 when no response began, and the connection goes.
    if (this.req && !this.req.complete) this.refuse(400);
    else this.settleEnd();
  }

  /** The peer sent its last byte: end once no response is due; a partial head is refused. */
  private settleEnd(): void {
    if (this.gone || this.endingSince || this.res) return;
    if (!this.parser.idle && !this.parser.done) this.refuse(400);
    else this.endSoon();
  }

  /** Refuses what the client sent (unless a response already began) and closes the connection. */
  private refuse(status: number): void {
    if (this.gone || this.endingSince) return;
    if (!this.res?.headersSent && this.stream.writable) this.stream.write(refusal(status));
    this.endSoon();
  }

  /** Ends our side after what was written, then closes (as node:http's destroySoon). */
  private endSoon(): void {
    if (this.gone || this.endingSince) return;
    this.endingSince = Date.now();
    this.stream.pause();
    if (!this.stream.writable) {
      this.destroy();
      return;
    }
    this.stream.once('finish', () => this.destroy());
    this.stream.end();
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.server.forget(this);
    const req = this.req;
    const res = this.res;
    this.req = undefined;
    this.res = undefined;
    this.held = undefined;
    req?.abort();
    if (res && !res.writableFinished) res.connectionLost();
  }
}

export class Http1Server {
  readonly limits: RequestParserLimits;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Responses close their connections (the server is shutting down). */
  draining = false;
  private readonly connections = new Set<Connection>();
  private timer: NodeJS.Timeout | undefined;
  private readonly checkEveryMs: number;

  constructor(
    readonly handler: Http1Handler,
    opts: Http1ServerOptions = {},
  ) {
    this.limits = opts.limits ?? DEFAULT_REQUEST_LIMITS;
    this.headersTimeoutMs = opts.headersTimeoutMs ?? 60_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 300_000;
    this.keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 60_000;
    // node:http's own bound for its connectionsCheckingInterval, from the headers timeout.
    this.checkEveryMs = Math.max(100, Math.min(5_000, Math.floor(this.headersTimeoutMs / 4)));
  }

  /** Serves HTTP/1.1 on a byte stream (a tunnel, or any Duplex). */
  handle(stream: Duplex): void {
    this.connections.add(new Connection(stream, this));
    if (!this.timer) {
      this.timer = setInterval(() => {
        const now = Date.now();
        for (const c of this.connections) c.checkTimeouts(now);
      }, this.checkEveryMs);
      this.timer.unref();
    }
  }

  /** Open connections. */
  get size(): number {
    return this.connections.size;
  }

  /** From now on every response closes its connection. */
  drain(): void {
    this.draining = true;
  }

  closeIdleConnections(): void {
    for (const c of [...this.connections]) if (c.idle) c.destroy();
  }

  closeAllConnections(): void {
    for (const c of [...this.connections]) c.destroy();
  }

  forget(c: Connection): void {
    this.connections.delete(c);
    if (this.connections.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
