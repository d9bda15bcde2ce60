// HTTP to one endpoint over a tunnel: HTTP/1.1 with keep-alive through a per-endpoint
// http.Agent whose "sockets" are HBONE streams (or plain TCP for endpoints outside the
// mesh), or HTTP/2 (h2c inside the tunnel) for http2/grpc ports, one session per endpoint.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { TunnelSocket } from '../tunnel-socket.js';
import { abortError, onCancel, type CancelSignal } from './transport-cancel.js';

/** Opens a byte stream to an endpoint (HBONE CONNECT, TCP, or TLS origination). */
export type Dial = () => Promise<Duplex>;

/**
 * An http.Agent over arbitrary duplex streams. Node's Agent assumes net.Socket for
 * keep-alive bookkeeping (setKeepAlive, ref/unref); tunnels have no such knobs.
 */
class TunnelAgent extends http.Agent {
  constructor(
    private readonly dial: Dial,
    maxSockets: number,
    private readonly maxRequestsPerConnection?: number,
  ) {
    super({ keepAlive: true, maxSockets, maxFreeSockets: Math.min(maxSockets, 64), timeout: 60_000 });
  }

  override createConnection(
    _options: object,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | undefined {
    this.dial().then(
      (dialed) => {
        // node:http corks the request head (a latin1 string) with the body and writes both
        // with writev; into an HTTP/2 stream (HBONE) that sends garbage on Node 20, so
        // tunnels get the Buffer-only wrapper the server side uses too.
        const stream: Duplex = dialed instanceof net.Socket ? dialed : new TunnelSocket(dialed);
        // A tunnel the server ended (idle close, `Connection: close`) is half-open on our
        // side; Node's agent would keep it as free and send the next request into the void.
        stream.once('end', () => setImmediate(() => stream.destroy()));
        callback?.(null, stream);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  override keepSocketAlive(socket: Duplex & { requestsServed?: number }): boolean {
    socket.requestsServed = (socket.requestsServed ?? 0) + 1;
    return this.maxRequestsPerConnection === undefined || socket.requestsServed < this.maxRequestsPerConnection;
  }

  // No reuseSocket override: Node's removes the error listener it added when the socket went
  // free; skipping it left one listener per reuse (MaxListenersExceededWarning under keep-alive).
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Whole body when buffered; a stream to pipe when not. */
  readonly body: Buffer | NodeJS.ReadableStream | undefined;
  readonly signal: CancelSignal;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable;
}

// Hop-by-hop headers never cross a proxy (RFC 9110 §7.6.1); HTTP/2 forbids them outright.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'http2-settings',
]);

export function endToEndHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface EndpointTransport {
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): void;
}

export function http1Transport(
  dial: Dial,
  opts: { maxConnections?: number; maxRequestsPerConnection?: number } = {},
): EndpointTransport {
  const agent = new TunnelAgent(dial, opts.maxConnections ?? 1024, opts.maxRequestsPerConnection);
  return {
    request(r) {
      return new Promise((resolve, reject) => {
        if (r.signal.aborted) {
          reject(abortError());
          return;
        }
        const req = http.request({
          agent,
          method: r.method,
          path: r.path,
          headers: { ...r.headers, host: r.authority },
          setHost: false,
        });
        req.once(
          'close',
          onCancel(r.signal, () => req.destroy(abortError())),
        );
        req.on('response', (res) =>
          resolve({ status: res.statusCode ?? 502, headers: endToEndHeaders(res.headers), body: res }),
        );
        req.on('error', reject);
        if (r.body === undefined) req.end();
        else if (Buffer.isBuffer(r.body)) req.end(r.body);
        else r.body.pipe(req);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export function http2Transport(dial: Dial): EndpointTransport {
  let session: Promise<http2.ClientHttp2Session> | undefined;
  const getSession = (): Promise<http2.ClientHttp2Session> => {
    if (!session) {
      const opening = dial().then((stream) => {
        const s = http2.connect('http://upstream', { createConnection: () => stream });
        const forget = (): void => {
          if (session === opening) session = undefined;
        };
        s.on('close', forget);
        s.on('goaway', forget);
        s.on('error', forget);
        return s;
      });
      opening.catch(() => {
        if (session === opening) session = undefined;
      });
      session = opening;
    }
    return session;
  };
  return {
    async request(r) {
      const s = await getSession();
      return new Promise((resolve, reject) => {
        if (r.signal.aborted) {
          reject(abortError());
          return;
        }
        const stream = s.request({ ...r.headers, ':method': r.method, ':path': r.path, ':authority': r.authority });
        stream.once(
          'close',
          onCancel(r.signal, () => stream.destroy(abortError())),
        );
        stream.on('response', (headers) => {
          const status = Number(headers[':status'] ?? 502);
          resolve({
            status,
            headers: endToEndHeaders(headers as Record<string, string | string[] | undefined>),
            body: stream,
          });
        });
        stream.on('error', reject);
        if (r.body === undefined) stream.end();
        else if (Buffer.isBuffer(r.body)) stream.end(r.body);
        else r.body.pipe(stream);
      });
    },
    close() {
      void session?.then(
        (s) => s.close(),
        () => undefined,
      );
    },
  };
}
