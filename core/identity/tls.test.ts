// Node's tls accepts the CA's certificates for mutual TLS 1.3, and refuses bad ones.
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Credentials } from './types.js';
import { identityOfCertificate } from './verify.js';
import { testCa, testCredentials } from '../../test/support/pki.js';

const servers: tls.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * A TLS 1.3 server requiring client certificates. With `reject` false it accepts every client
 * and records why OpenSSL would have refused it (`reasons`), so tests can check the cause.
 */
async function serve(
  creds: Credentials,
  trust: string,
  reject = true,
): Promise<{ port: number; peers: Array<string | undefined>; errors: string[]; reasons: string[] }> {
  const peers: Array<string | undefined> = [];
  const errors: string[] = [];
  const reasons: string[] = [];
  const server = tls.createServer(
    {
      key: creds.keyPem,
      cert: creds.certChainPem,
      ca: trust,
      requestCert: true,
      rejectUnauthorized: reject,
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      if (!socket.authorized) {
        reasons.push(String(socket.authorizationError));
        socket.destroy();
        return;
      }
      const peer = socket.getPeerX509Certificate();
      peers.push(peer ? identityOfCertificate(peer) : undefined);
      socket.end('hello');
    },
  );
  server.on('tlsClientError', (err) => {
    errors.push(err.message);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, peers, errors, reasons };
}

/**
 * Resolves with what the server sent, or rejects with the TLS error. In TLS 1.3 the client
 * finishes its handshake before the server has checked the client certificate, so a refusal
 * shows up after `secureConnect` as an alert: wait for the end of the connection.
 */
async function dial(
  port: number,
  creds: Credentials | undefined,
  trust: string,
): Promise<{ data: string; serverIdentity: string | undefined; protocol: string | null }> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: trust,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    ...(creds ? { key: creds.keyPem, cert: creds.certChainPem } : {}),
    checkServerIdentity: () => undefined, // SPIFFE: the URI SAN is checked by the caller, not the host name
  });
  let data = '';
  let failure: Error | undefined;
  let serverIdentity: string | undefined;
  let protocol: string | null = null;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    data += d;
  });
  socket.on('error', (err) => {
    failure = err;
  });
  socket.on('secureConnect', () => {
    const peer = socket.getPeerX509Certificate();
    serverIdentity = peer ? identityOfCertificate(peer) : undefined;
    protocol = socket.getProtocol();
  });
  await once(socket, 'close');
  if (failure) throw failure;
  return { data, serverIdentity, protocol };
}

describe('mutual TLS 1.3 with the CA certificates', () => {
  it('connects both ways and reads back the peer URI SANs', async () => {
    const ca = await testCa();
    const server = await serve(await testCredentials(ca, 'backend', 'httpbin'), ca.rootsPem);
    const result = await dial(server.port, await testCredentials(ca, 'default', 'sleep'), ca.rootsPem);
    expect(result.data).toBe('hello');
    expect(result.protocol).toBe('TLSv1.3');
    expect(result.serverIdentity).toBe('spiffe://cluster.local/ns/backend/sa/httpbin');
    expect(server.peers).toEqual(['spiffe://cluster.local/ns/default/sa/sleep']);
  });

  it('refuses a client certificate from another CA (wrong trust domain)', async () => {
    const ca = await testCa();
    const other = await testCa('evil.example');
    const server = await serve(await testCredentials(ca, 'backend', 'httpbin'), ca.rootsPem);
    const outcome = await dial(server.port, await testCredentials(other, 'default', 'sleep'), ca.rootsPem).catch(
      (e: Error) => e,
    );
    expect(outcome).not.toHaveProperty('data', 'hello');
    expect(server.peers).toEqual([]);
    expect(server.errors).toHaveLength(1);
    const probe = await serve(await testCredentials(ca, 'backend', 'httpbin'), ca.rootsPem, false);
    await dial(probe.port, await testCredentials(other, 'default', 'sleep'), ca.rootsPem).catch(() => undefined);
    expect(probe.reasons).toEqual(['UNABLE_TO_VERIFY_LEAF_SIGNATURE']); // no chain to our root
  });

  it('refuses an expired client certificate', async () => {
    const ca = await testCa();
    const server = await serve(await testCredentials(ca, 'backend', 'httpbin'), ca.rootsPem);
    const expired = await testCredentials(ca, 'default', 'sleep', {
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    const outcome = await dial(server.port, expired, ca.rootsPem).catch((e: Error) => e);
    expect(outcome).not.toHaveProperty('data', 'hello');
    expect(server.peers).toEqual([]);
    expect(server.errors).toHaveLength(1);
    const probe = await serve(await testCredentials(ca, 'backend', 'httpbin'), ca.rootsPem, false);
    await dial(probe.port, expired, ca.rootsPem).catch(() => undefined);
    expect(probe.reasons).toEqual(['CERT_HAS_EXPIRED']);
  });

  it('refuses a client without a certificate', async () => {
    const ca = await testCa();
    const server = await serve(await testCredentials(ca, 'backend', 'httpbin'), ca.rootsPem);
    await expect(dial(server.port, undefined, ca.rootsPem)).rejects.toThrow(/certificate required|alert/);
    expect(server.peers).toEqual([]);
  });

  it('the client refuses a server whose certificate has expired', async () => {
    const ca = await testCa();
    const expired = await testCredentials(ca, 'backend', 'httpbin', {
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    const server = await serve(expired, ca.rootsPem);
    await expect(dial(server.port, await testCredentials(ca, 'default', 'sleep'), ca.rootsPem)).rejects.toThrow(
      /expired/,
    );
  });
});
