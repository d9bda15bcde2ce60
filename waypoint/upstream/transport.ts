// HTTP to one endpoint over a tunnel: HTTP/1.1 with keep-alive on pooled streams (HBONE
// streams, or plain TCP / TLS for endpoints outside the mesh; http1-client.ts), or HTTP/2
// (h2c inside the tunnel) for http2/grpc ports, one session per endpoint.
import http2 from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import { endToEndHeaders } from './hop-by-hop.js';
import { Http1Client } from './http1-client.js';
import { abortError, onCancel, type CancelSignal } from './transport-cancel.js';

/** Opens a byte stream to an endpoint (HBONE CONNECT, TCP, or TLS origination). */
export type Dial = () => Promise<Duplex>;

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

export { endToEndHeaders } from './hop-by-hop.js';

export interface EndpointTransport {
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): void;
}

/** HTTP/1.1 over pooled keep-alive streams from `dial` (see http1-client.ts). */
export function http1Transport(
  dial: Dial,
  opts: { maxConnections?: number; maxRequestsPerConnection?: number } = {},
): EndpointTransport {
  return new Http1Client(dial, opts);
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
