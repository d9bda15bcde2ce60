// HBONE servers presenting one Credentials object share one OpenSSL context (the pods of one
// service account), and that context still does everything a server's own did: presents the
// certificate, requires and verifies client certificates against the roots, negotiates h2,
// resumes TLS sessions, and follows a rotation.
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../identity/ca.js';
import type { Credentials } from '../identity/types.js';
import { setLogLevel } from '../log.js';
import { testCa, testCredentials } from '../../test/support/pki.js';
import { createHboneServer, serveWith, type HboneServer } from './server.js';
import { HBONE_ALPN, secureContextFor, spiffeIdOf } from './tls.js';

interface Handshake {
  socket: tls.TLSSocket;
  identity: string | undefined;
  serial: string;
  /** The first session ticket the server sends (TLS 1.3 sends it after the handshake). */
  ticket: Promise<Buffer>;
}

/** A TLS handshake as an HBONE client makes it; rejects when the server refuses it. */
function handshake(port: number, client: Credentials, session?: Buffer): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      secureContext: secureContextFor(client),
      ALPNProtocols: [HBONE_ALPN],
      checkServerIdentity: () => undefined,
      ...(session ? { session } : {}),
    });
    const ticket = new Promise<Buffer>((r) => socket.once('session', r));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      resolve({ socket, identity: spiffeIdOf(cert), serial: cert.serialNumber, ticket });
    });
  });
}

/** Whether the server kept the connection after the handshake (TLS 1.3 reports a refused client cert late). */
function keptOpen(socket: tls.TLSSocket): Promise<boolean> {
  return new Promise((resolve) => {
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
    // The HTTP/2 preface: a server that accepted us answers with its SETTINGS.
    socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + '\x00\x00\x00\x04\x00\x00\x00\x00\x00');
    socket.once('data', () => resolve(true));
  });
}

function servedContext(server: tls.Server): unknown {
  return (server as unknown as { _sharedCreds?: unknown })._sharedCreds;
}

describe('hbone servers sharing one TLS context per identity', () => {
  let ca: CertificateAuthority;
  let podIdentity: Credentials;
  let client: Credentials;
  const servers: HboneServer[] = [];
  const sockets: tls.TLSSocket[] = [];

  async function start(credentials: () => Credentials): Promise<{ server: HboneServer; port: number }> {
    const server = createHboneServer({ credentials, trustDomain: 'cluster.local', handler: () => undefined });
    servers.push(server);
    const addr = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
    return { server, port: addr.port };
  }

  beforeAll(async () => {
    if (!process.env.AMBIT_LOG_LEVEL) setLogLevel('error');
    ca = await testCa();
    podIdentity = await testCredentials(ca, 'shop', 'cart');
    client = await testCredentials(ca, 'shop', 'web');
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => s.close({ force: true })));
  });

  it('two pods of one identity present it from the context the pool uses too', async () => {
    const a = await start(() => podIdentity);
    const b = await start(() => podIdentity);
    for (const port of [a.port, b.port]) {
      const h = await handshake(port, client);
      sockets.push(h.socket);
      expect(h.identity).toBe(podIdentity.identity);
      expect(h.socket.alpnProtocol).toBe(HBONE_ALPN);
      expect(await keptOpen(h.socket)).toBe(true);
    }
  });

  it('serveWith hands every server of one credentials object the same context', () => {
    const [a, b] = [tls.createServer({}), tls.createServer({})];
    serveWith(a, podIdentity);
    serveWith(b, podIdentity);
    // Node 20 keeps the served context in _sharedCreds; serveWith falls back where it is gone.
    expect(servedContext(a)).toBe(secureContextFor(podIdentity));
    expect(servedContext(b)).toBe(servedContext(a));
    serveWith(b, client);
    expect(servedContext(b)).toBe(secureContextFor(client));
  });

  it('still requires a client certificate chained to the roots', async () => {
    const { port } = await start(() => podIdentity);
    const foreign = await testCredentials(await testCa(), 'shop', 'web');
    const refused = await handshake(port, foreign).then(
      async (h) => {
        sockets.push(h.socket);
        return !(await keptOpen(h.socket));
      },
      () => true,
    );
    expect(refused).toBe(true);
    const none = await new Promise<boolean>((resolve) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        ca: podIdentity.rootsPem,
        ALPNProtocols: [HBONE_ALPN],
        checkServerIdentity: () => undefined,
      });
      sockets.push(s);
      s.once('error', () => resolve(true));
      s.once('secureConnect', () => void keptOpen(s).then((open) => resolve(!open)));
    });
    expect(none).toBe(true);
  });

  it('resumes a TLS session offered by a returning client', async () => {
    const { port } = await start(() => podIdentity);
    const first = await handshake(port, client);
    sockets.push(first.socket);
    expect(await keptOpen(first.socket)).toBe(true);
    const second = await handshake(port, client, await first.ticket);
    sockets.push(second.socket);
    expect(second.socket.isSessionReused()).toBe(true);
    expect(await keptOpen(second.socket)).toBe(true);
  });

  it('a rotation is served to new connections, the other pod keeps its credentials', async () => {
    let current = podIdentity;
    const rotating = await start(() => current);
    const other = await start(() => podIdentity);
    const before = await handshake(rotating.port, client);
    sockets.push(before.socket);
    current = await testCredentials(ca, 'shop', 'cart');
    const after = await handshake(rotating.port, client);
    sockets.push(after.socket);
    expect(after.identity).toBe(podIdentity.identity);
    expect(after.serial).not.toBe(before.serial);
    const unchanged = await handshake(other.port, client);
    sockets.push(unchanged.socket);
    expect(unchanged.serial).toBe(before.serial);
  });
});
