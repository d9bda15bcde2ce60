// The HBONE server: TLS 1.3 with the served identity's certificate (read for every new
// connection, so rotation needs no restart), client certificates required and chained to the
// trust bundle, peers outside the trust domain refused, HTTP/2 only. Each CONNECT stream goes
// to the handler as an HboneRequest; the handler answers with acceptTunnel or rejectTunnel.
// Bounded against a hostile peer: streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS, as
// ztunnel), an absolute TLS handshake deadline, idle connections closed, connections per peer
// identity capped.
import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, ListenOptions, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext, Server as TlsServer, TLSSocket } from 'node:tls';
import { describeError } from '../errors.js';
import type { Credentials } from '../identity/types.js';
import { createLogger } from '../log.js';
import type { Logger } from '../log.js';
import { splitHostPort } from './headers.js';
import type { HboneFlowOptions, HboneServerBounds } from './options.js';
import { http2Settings, resolveFlow, resolveServerBounds } from './options.js';
import {
  HBONE_ALPN,
  inTrustDomain,
  peerIdentity,
  secureContextFor,
  secureContextOptions,
  TLS_MIN_VERSION,
} from './tls.js';

const { NGHTTP2_INADEQUATE_SECURITY, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface HboneRequest {
  /** `ip:port` the client wants to reach. */
  readonly authority: string;
  /** SPIFFE id of the client certificate (already checked to be in the trust domain). */
  readonly peerIdentity: string;
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly stream: ServerHttp2Stream;
}

export interface HboneServerOptions extends HboneFlowOptions, HboneServerBounds {
  /** Called for each new connection; return the current credentials of the served identity. */
  credentials: () => Credentials;
  trustDomain: string;
  handler: (req: HboneRequest) => void;
  log?: Logger;
}

export interface HboneServerStats {
  readonly sessions: number;
  readonly activeStreams: number;
  readonly streamsTotal: number;
  /** Connections whose TLS handshake failed (bad/missing client certificate, plaintext, …). */
  readonly tlsFailures: number;
  /** Connections refused because the peer identity is outside the trust domain. */
  readonly refusedPeers: number;
  /** Connections dropped because the TLS handshake did not finish within the deadline. */
  readonly handshakeTimeouts: number;
  /** Connections closed after the idle timeout with no stream. */
  readonly idleClosed: number;
  /** Connections refused because their peer identity already holds maxConnectionsPerPeer. */
  readonly refusedPeerCap: number;
  /** Streams refused beyond maxConcurrentStreams (those nghttp2 refuses itself are not seen here). */
  readonly refusedStreams: number;
}

/** `{host, port}` (net.ListenOptions) or `{fd}`: a listening socket made elsewhere (inside a pod netns). */
export type HboneListenOptions = ListenOptions | { fd: number };

export interface HboneServer {
  listen(o: HboneListenOptions): Promise<AddressInfo | undefined>;
  /** Serve a socket accepted elsewhere. */
  handleSocket(socket: Socket): void;
  /** Stop accepting; GOAWAY every session and wait for its streams (force: reset them now). */
  close(opts?: { force?: boolean }): Promise<void>;
  stats(): HboneServerStats;
}

export function createHboneServer(o: HboneServerOptions): HboneServer {
  const log = o.log ?? createLogger('hbone-server');
  const flow = resolveFlow(o);
  const bounds = resolveServerBounds(o);
  let current = o.credentials();
  // No key, certificate or roots here: tls.Server would build its own OpenSSL context from
  // them. The context served is the one shared by every holder of the credentials (serveWith).
  const server = http2.createSecureServer({
    minVersion: TLS_MIN_VERSION,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [HBONE_ALPN],
    allowHTTP1: false,
    // Node's own timer is an inactivity timeout; the absolute deadline is below.
    handshakeTimeout: bounds.handshakeTimeoutMs,
    settings: { ...http2Settings(flow), enablePush: undefined, maxConcurrentStreams: bounds.maxConcurrentStreams },
    maxSessionMemory: flow.maxSessionMemoryMb,
  });
  serveWith(server, current);
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  const counts = {
    activeStreams: 0,
    streamsTotal: 0,
    tlsFailures: 0,
    refusedPeers: 0,
    handshakeTimeouts: 0,
    idleClosed: 0,
    refusedPeerCap: 0,
    refusedStreams: 0,
  };
  const connectionsPerPeer = new Map<string, number>();
  // Handshake deadlines by the TCP 4-tuple: the TLS socket is a new object over the same connection.
  const handshakeDeadlines = new Map<string, NodeJS.Timeout>();
  let listening = false;
  let closing = false;

  // Runs before the TLS socket is made: pick up rotated credentials (one new context per rotation).
  server.prependListener('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const key = tupleKey(socket);
    const deadline = setTimeout(() => {
      handshakeDeadlines.delete(key);
      counts.handshakeTimeouts++;
      log.debug('hbone tls handshake deadline passed', { remote: socket.remoteAddress });
      socket.destroy();
    }, bounds.handshakeTimeoutMs);
    deadline.unref();
    handshakeDeadlines.set(key, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      if (handshakeDeadlines.get(key) === deadline) handshakeDeadlines.delete(key);
    });
    try {
      const creds = o.credentials();
      if (creds !== current) {
        serveWith(server, creds);
        current = creds;
        log.info('hbone server credentials rotated', {
          identity: creds.identity,
          notAfter: creds.notAfter.toISOString(),
        });
      }
    } catch (err) {
      log.warn('hbone server keeps its previous credentials', { err: describeError(err) });
    }
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const key = tupleKey(socket);
    clearTimeout(handshakeDeadlines.get(key));
    handshakeDeadlines.delete(key);
  });
  server.on('tlsClientError', (err: Error, socket) => {
    counts.tlsFailures++;
    if ((err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT') counts.handshakeTimeouts++;
    log.debug('hbone tls handshake failed', { err: describeError(err), remote: socket.remoteAddress });
  });
  // HTTP/1 over TLS (or no ALPN): not HBONE, close at once.
  server.on('unknownProtocol', (socket) => {
    socket.destroy();
  });
  server.on('sessionError', (err: Error) => log.debug('hbone session error', { err: describeError(err) }));

  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', (err: Error) => log.debug('hbone session error', { err: describeError(err) }));
    if (closing) {
      session.close();
      return;
    }
    const peer = peerIdentity(session.socket as TLSSocket);
    if (!peer || !inTrustDomain(peer, o.trustDomain)) {
      counts.refusedPeers++;
      log.warn('hbone peer refused: identity outside the trust domain', {
        peer: peer ?? '(none)',
        trustDomain: o.trustDomain,
      });
      session.goaway(NGHTTP2_INADEQUATE_SECURITY, 0, Buffer.from('peer identity outside the trust domain'));
      session.close();
      return;
    }
    const held = connectionsPerPeer.get(peer) ?? 0;
    if (held >= bounds.maxConnectionsPerPeer) {
      counts.refusedPeerCap++;
      log.warn('hbone peer refused: too many connections', { peer, limit: bounds.maxConnectionsPerPeer });
      session.goaway(NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too many connections from this identity'));
      session.close();
      return;
    }
    connectionsPerPeer.set(peer, held + 1);
    session.once('close', () => {
      const n = (connectionsPerPeer.get(peer) ?? 1) - 1;
      if (n > 0) connectionsPerPeer.set(peer, n);
      else connectionsPerPeer.delete(peer);
    });
    // Idle: no stream open for idleTimeoutMs (PINGs do not count) closes the connection gracefully.
    let sessionStreams = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      if (sessionStreams > 0) return;
      idleTimer = setTimeout(() => {
        counts.idleClosed++;
        log.debug('hbone idle connection closed', { peer });
        session.close();
      }, bounds.idleTimeoutMs);
      idleTimer.unref();
    };
    session.once('close', () => clearTimeout(idleTimer));
    armIdle();
    session.setLocalWindowSize(flow.connectionWindowBytes);
    const remoteAddress = session.socket.remoteAddress ?? '';
    const remotePort = session.socket.remotePort ?? 0;
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      counts.activeStreams++;
      counts.streamsTotal++;
      sessionStreams++;
      clearTimeout(idleTimer);
      stream.once('close', () => {
        counts.activeStreams--;
        sessionStreams--;
        armIdle();
      });
      stream.on('error', (err: Error) => log.debug('hbone stream error', { err: describeError(err) }));
      // nghttp2 enforces the advertised limit itself; this guards the count it does not see.
      if (sessionStreams > bounds.maxConcurrentStreams) {
        counts.refusedStreams++;
        stream.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      const authority = headers[':authority'] ?? '';
      if (headers[':method'] !== 'CONNECT' || !splitHostPort(authority)) {
        stream.respond({ ':status': 400 }, { endStream: true });
        log.debug('hbone bad request', { method: headers[':method'], authority, peer });
        return;
      }
      const req: HboneRequest = { authority, peerIdentity: peer, headers, remoteAddress, remotePort, stream };
      try {
        o.handler(req);
      } catch (err) {
        log.error('hbone handler failed', { err: describeError(err), authority, peer });
        rejectTunnel(req, 503, 'handler failed');
      }
    });
  });

  return {
    listen(opts: HboneListenOptions): Promise<AddressInfo | undefined> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts, () => {
          server.removeListener('error', reject);
          server.on('error', (err: Error) => log.error('hbone listener error', { err: describeError(err) }));
          listening = true;
          const addr = server.address();
          resolve(addr && typeof addr === 'object' ? addr : undefined);
        });
      });
    },
    handleSocket(socket: Socket): void {
      if (closing) {
        socket.destroy();
        return;
      }
      server.emit('connection', socket);
    },
    async close(opts?: { force?: boolean }): Promise<void> {
      closing = true;
      const stopped = listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      listening = false;
      const drained = [...sessions].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.closed || s.destroyed) {
              resolve();
              return;
            }
            s.once('close', () => resolve());
            if (opts?.force) s.destroy();
            else s.close();
          }),
      );
      if (opts?.force) for (const s of sockets) s.destroy();
      await Promise.all([...drained, stopped]);
    },
    stats(): HboneServerStats {
      return { sessions: sessions.size, ...counts };
    },
  };
}

/** Answer 200 to the CONNECT; the returned Duplex is the tunnel (pass it to relay). */
export function acceptTunnel(req: HboneRequest): Duplex {
  const { stream } = req;
  if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': 200 });
  return stream;
}

/** Refuse the CONNECT with `status`; `reason` goes to the log, not to the peer. */
export function rejectTunnel(req: HboneRequest, status: 400 | 401 | 403 | 503, reason: string): void {
  const { stream } = req;
  if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': status }, { endStream: true });
  rejectLog.debug('hbone tunnel rejected', { status, reason, authority: req.authority, peer: req.peerIdentity });
}

const rejectLog = createLogger('hbone-server');

/**
 * Serve new connections with the shared context of `creds` (tls.ts secureContextFor): the pods
 * of one service account then hold one OpenSSL context between them, not one per pod's server.
 * tls.Server reads the context of each new connection from `_sharedCreds` (Node 18-24); where
 * that property is gone, setSecureContext builds a context of the server's own.
 */
export function serveWith(server: TlsServer, creds: Credentials): void {
  const s = server as unknown as { _sharedCreds?: SecureContext };
  if ('_sharedCreds' in s) s._sharedCreds = secureContextFor(creds);
  else server.setSecureContext(secureContextOptions(creds));
}

function tupleKey(s: {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
}): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}
