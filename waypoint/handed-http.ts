// The node:http servers connections are handed to (`emit('connection')`): they never listen
// themselves. One definition of their limits. Gateways use both; a waypoint's tunnels use the
// HTTP/2 one (HTTP/1.1 on tunnels has the waypoint's own server, http1/server.ts, with the
// same head limit and timeouts).
import http from 'node:http';
import http2 from 'node:http2';

type Handler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** HTTP/1.1 with the waypoint's head limits; slow clients are cut after `headersTimeoutMs`. */
export function handedHttp1Server(handler: Handler, headersTimeoutMs = 60_000): http.Server {
  // Node checks the header/request timeouts every connectionsCheckingInterval (30 s by
  // default), so a slow client would get up to that much longer than headersTimeout.
  const server = http.createServer(
    {
      maxHeaderSize: 64 * 1024,
      requestTimeout: 300_000,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(headersTimeoutMs / 4))),
    },
    handler,
  );
  // Node starts tracking connections for those timeouts on 'listening'; this server never
  // listens (connections are handed to it), so it is told once here.
  server.emit('listening');
  server.keepAliveTimeout = 60_000;
  return server;
}

/**
 * HTTP/2 (h2c or after TLS ALPN): nghttp2 takes header lists up to 256 KiB so the handler can
 * answer 431 above its own 64 KiB limit, as HTTP/1 gets; beyond 256 KiB the stream is reset.
 */
export function handedHttp2Server(handler: Handler): http2.Http2Server {
  return http2.createServer({ maxSessionMemory: 64, settings: { maxHeaderListSize: 256 * 1024 } }, handler);
}
