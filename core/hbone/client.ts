// One HBONE client connection: TCP (optionally from a socket made inside a pod netns), TLS 1.3
// with our client certificate and the server's SPIFFE id checked, then an HTTP/2 session;
// and one tunnel on it: a CONNECT stream that counts as open once the server answers 200.
import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { AmbitError } from '../errors.js';
import type { Credentials } from '../identity/types.js';
import { joinHostPort } from './headers.js';
import type { HboneConnectOptions, HboneTarget, ResolvedFlow } from './options.js';
import { http2Settings } from './options.js';
import { expectIdentity, HBONE_ALPN, peerIdentity, secureContextFor, TLS_MIN_VERSION, tlsClientError } from './tls.js';

const { NGHTTP2_CANCEL } = http2.constants;

/** The server answered the CONNECT with a status other than 200. */
export class HboneStatusError extends AmbitError {
  readonly status: number;
  constructor(status: number, target: string, authority: string) {
    super('AMBIT_E_HBONE_STATUS', `HBONE CONNECT to ${authority} via ${target} answered ${status}`, {
      hint: statusHint(status),
    });
    this.status = status;
  }
}

function statusHint(status: number): string {
  switch (status) {
    case 400:
      return 'the HBONE server found the CONNECT malformed (authority must be ip:port)';
    case 401:
    case 403:
      return 'an AuthorizationPolicy at the destination denied this source identity';
    case 503:
      return 'the destination has no usable upstream (pod gone, port closed or not in the mesh)';
    default:
      return 'see the destination agent/waypoint logs for this tunnel';
  }
}

export function targetName(t: HboneTarget): string {
  return joinHostPort(t.address, t.port);
}

export interface DialInput {
  source: Credentials;
  target: HboneTarget;
  via?: HboneConnectOptions['via'];
  flow: ResolvedFlow;
  timeoutMs: number;
}

export interface DialedConnection {
  session: ClientHttp2Session;
  /** The TLS socket under the session (session.socket is a proxy that cannot destroy it). */
  socket: tls.TLSSocket;
  /** The SPIFFE id the server presented (one of target.expectedIdentities). */
  peerIdentity: string;
}

/** TCP + TLS handshake + HTTP/2 session; rejects with AMBIT_E_TLS_PEER / AMBIT_E_HBONE_CONNECT / AMBIT_E_TIMEOUT. */
export function dial(o: DialInput): Promise<DialedConnection> {
  const name = targetName(o.target);
  return new Promise<DialedConnection>((resolve, reject) => {
    let raw: net.Socket;
    let secure: tls.TLSSocket;
    try {
      raw = o.via ? o.via.createSocket() : new net.Socket();
      // An unconnected netns socket must be connected in the same tick (else ENOTCONN); an
      // IP literal means no DNS lookup that could swap in a host-netns socket.
      raw.connect(o.target.port, o.target.address);
      raw.setNoDelay(true);
      raw.setKeepAlive(true, 30_000);
      secure = tls.connect({
        socket: raw,
        host: o.target.address,
        secureContext: secureContextFor(o.source),
        minVersion: TLS_MIN_VERSION,
        ALPNProtocols: [HBONE_ALPN],
        rejectUnauthorized: true,
        checkServerIdentity: expectIdentity(o.target.expectedIdentities),
      });
    } catch (err) {
      reject(tlsClientError(err, name, o.source.identity));
      return;
    }
    const timer = setTimeout(() => {
      fail(
        new AmbitError('AMBIT_E_TIMEOUT', `HBONE handshake with ${name} did not finish in ${o.timeoutMs} ms`, {
          hint: 'the endpoint accepts TCP but does not answer TLS, or the network drops packets',
        }),
      );
    }, o.timeoutMs);
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      secure.removeListener('secureConnect', onSecure);
      secure.destroy();
      raw.destroy();
      reject(tlsClientError(err, name, o.source.identity));
    };
    const onSecure = (): void => {
      clearTimeout(timer);
      secure.removeListener('error', fail);
      if (secure.alpnProtocol !== HBONE_ALPN) {
        fail(
          new AmbitError(
            'AMBIT_E_HBONE_CONNECT',
            `${name} did not negotiate ALPN h2 (got ${String(secure.alpnProtocol)})`,
            {
              hint: 'the port is not an HBONE endpoint (expected the agent or a waypoint on 15008)',
            },
          ),
        );
        return;
      }
      const identity = peerIdentity(secure) ?? '';
      const session = http2.connect(`https://${name}`, {
        createConnection: () => secure,
        settings: http2Settings(o.flow),
        maxSessionMemory: o.flow.maxSessionMemoryMb,
      });
      // Errors after this point belong to the pool's session listeners; keep one here until then.
      session.on('error', () => undefined);
      session.once('connect', () => {
        // SETTINGS only size the stream window; the connection window needs this call.
        session.setLocalWindowSize(o.flow.connectionWindowBytes);
      });
      resolve({ session, socket: secure, peerIdentity: identity });
    };
    secure.once('secureConnect', onSecure);
    secure.once('error', fail);
  });
}

/** Where the last error of a tunnel stream is kept (for relay's close reason). */
export const STREAM_ERROR = Symbol('ambit.hbone.streamError');

/** Why a CONNECT stream ended before its answer; the pool decides on retry and error code. */
export class TunnelOpenFailure extends Error {
  constructor(
    readonly rstCode: number,
    readonly sessionGone: boolean,
    cause?: unknown,
  ) {
    super(
      `stream closed before the CONNECT was answered (HTTP/2 code ${rstCode}${sessionGone ? ', connection gone' : ''})`,
      { cause },
    );
  }
}

/**
 * Send a CONNECT on `session`; `ready` resolves with the stream once the server answered 200,
 * rejects with HboneStatusError on another status or TunnelOpenFailure when the stream ends first.
 * The stream keeps an 'error' listener for life so a late reset never becomes an uncaught error.
 */
export function openTunnel(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  name: string,
): { stream: ClientHttp2Stream; ready: Promise<ClientHttp2Stream> } {
  const stream = session.request(headers, { endStream: false });
  stream.on('error', (err) => {
    (stream as unknown as Record<symbol, unknown>)[STREAM_ERROR] = err;
  });
  const ready = new Promise<ClientHttp2Stream>((resolve, reject) => {
    const onResponse = (h: http2.IncomingHttpHeaders): void => {
      stream.removeListener('close', onClose);
      const status = Number(h[':status']);
      if (status === 200) {
        resolve(stream);
        return;
      }
      stream.close(NGHTTP2_CANCEL);
      reject(new HboneStatusError(status, name, String(headers[':authority'])));
    };
    const onClose = (): void => {
      stream.removeListener('response', onResponse);
      const cause = (stream as unknown as Record<symbol, unknown>)[STREAM_ERROR];
      reject(new TunnelOpenFailure(stream.rstCode ?? NGHTTP2_CANCEL, session.closed || session.destroyed, cause));
    };
    stream.once('response', onResponse);
    stream.once('close', onClose);
  });
  return { stream, ready };
}

/**
 * PING the peer every `intervalMs`; call `onDead` when an answer takes longer than
 * `timeoutMs` (a peer gone without FIN or RST; a graceful close would wait for it forever).
 * Stops when the session closes.
 */
export function watchLiveness(
  session: ClientHttp2Session,
  intervalMs: number,
  timeoutMs: number,
  onDead: () => void,
): void {
  if (intervalMs <= 0) return;
  let waiting: NodeJS.Timeout | undefined;
  const tick = setInterval(() => {
    if (waiting || session.closed || session.destroyed) return;
    waiting = setTimeout(onDead, timeoutMs);
    waiting.unref();
    try {
      session.ping((err) => {
        clearTimeout(waiting);
        waiting = undefined;
        if (err && !session.destroyed) onDead();
      });
    } catch {
      // too many PINGs outstanding or the session is going away: let the timer decide
    }
  }, intervalMs);
  tick.unref();
  session.once('close', () => {
    clearInterval(tick);
    clearTimeout(waiting);
  });
}
