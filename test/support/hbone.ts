// Shared fixtures of the HBONE tests: a test CA with workload credentials, an HBONE server
// that forwards each CONNECT to its authority on loopback (like a destination agent), and
// plain TCP targets (echo, sink). Everything runs on 127.0.0.1 with real sockets.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';
import { acceptTunnel, createHboneServer, rejectTunnel, relay } from '../../core/hbone/index.js';
import type { HbonePool } from '../../core/hbone/index.js';
import type {
  HboneListenOptions,
  HboneRequest,
  HboneServer,
  HboneServerOptions,
  HboneTarget,
  RelayResult,
} from '../../core/hbone/index.js';
import { testCa, testCredentials } from './pki.js';

export interface Pki {
  ca: CertificateAuthority;
  client: Credentials;
  server: Credentials;
}

export async function pki(trustDomain = 'cluster.local'): Promise<Pki> {
  const ca = await testCa(trustDomain);
  return {
    ca,
    client: await testCredentials(ca, 'default', 'client'),
    server: await testCredentials(ca, 'ztunnel', 'agent'),
  };
}

export interface Forwarder {
  server: HboneServer;
  port: number;
  requests: HboneRequest[];
  relays: Promise<RelayResult>[];
  close(force?: boolean): Promise<void>;
}

/** An HBONE server that dials the CONNECT authority and relays (a destination agent in small). */
export async function startForwarder(
  credentials: () => Credentials,
  opts: Partial<HboneServerOptions> & { port?: number; listen?: HboneListenOptions } = {},
): Promise<Forwarder> {
  const requests: HboneRequest[] = [];
  const relays: Promise<RelayResult>[] = [];
  const handler = (req: HboneRequest): void => {
    requests.push(req);
    const [host, port] = splitAuthority(req.authority);
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    upstream.once('error', () => rejectTunnel(req, 503, 'upstream refused'));
    upstream.once('connect', () => {
      upstream.removeAllListeners('error');
      relays.push(relay(upstream, acceptTunnel(req)));
    });
  };
  const server = createHboneServer({ credentials, trustDomain: 'cluster.local', handler, ...opts });
  const addr = await server.listen(opts.listen ?? { host: '127.0.0.1', port: opts.port ?? 0 });
  return { server, port: addr?.port ?? 0, requests, relays, close: (force) => server.close({ force }) };
}

function splitAuthority(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), Number(a.slice(i + 1))];
}

export interface TcpTarget {
  port: number;
  sockets: net.Socket[];
  close(): Promise<void>;
}

/** A TCP server (half-open allowed) that hands each accepted socket to `onSocket`. */
export async function startTcp(onSocket: (s: net.Socket) => void): Promise<TcpTarget> {
  const sockets: net.Socket[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

/** Echo: writes back what it reads; ends its side after the peer's FIN. */
export function startEcho(): Promise<TcpTarget> {
  return startTcp((s) => s.pipe(s));
}

export function target(port: number, authorityPort: number, expected: string | string[]): HboneTarget {
  return {
    address: '127.0.0.1',
    port,
    authority: `127.0.0.1:${authorityPort}`,
    expectedIdentities: Array.isArray(expected) ? expected : [expected],
  };
}

/** Everything a Duplex yields until it ends. */
export function readAll(d: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    d.on('data', (c: Buffer) => chunks.push(c));
    d.once('end', () => resolve(Buffer.concat(chunks)));
    d.once('error', reject);
  });
}

/** Resolves on 'close' of an emitter-like stream. */
export function closed(d: { once(ev: 'close', fn: () => void): unknown; destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (d.destroyed) resolve();
    else d.once('close', () => resolve());
  });
}

export interface SourceAgent extends TcpTarget {
  relays: Promise<RelayResult>[];
}

/**
 * A TCP listener that tunnels every accepted connection over HBONE to `tgt` and relays
 * (a source agent in small). A refused tunnel resets the accepted socket.
 */
export function startSourceAgent(pool: HbonePool, source: Credentials, tgt: HboneTarget): Promise<SourceAgent> {
  const relays: Promise<RelayResult>[] = [];
  return startTcp((socket) => {
    socket.pause();
    pool.connect({ source, target: tgt, forwardedFor: `${socket.remoteAddress}:${socket.remotePort}` }).then(
      (tunnel) => {
        relays.push(relay(socket, tunnel));
        socket.resume();
      },
      () => socket.resetAndDestroy(),
    );
  }).then((t) => ({ ...t, relays }));
}

/**
 * A free port below the kernel's ephemeral range (32768+), for servers that restart on the
 * same port: a port from the ephemeral range can meanwhile become the local port of some
 * outgoing loopback connection, and listening on it again fails with EADDRINUSE.
 */
export async function stablePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const s = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => s.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port in 20000-32000');
}
