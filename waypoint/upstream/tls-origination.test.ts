// TLS origination of each DestinationRule mode, against real TLS servers outside the mesh:
// what the server sees (SNI, ALPN, client certificate) and what the waypoint refuses.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HbonePool } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import type { ClientTlsSettings, Cluster } from '../../core/model/l7.js';
import { makeExternalPki, type ExternalPki } from '../../core/identity/external-pki.js';
import { testCa, testCredentials } from '../../test/support/pki.js';
import type { EndpointRuntime } from './balancer.js';
import { HboneTransportFactory } from './transports.js';
import { subjectAltNamesOf } from './tls-origination.js';

interface Seen {
  servername: string | false;
  alpn: string | false;
  clientSans: string[];
}

async function tlsServer(opts: tls.TlsOptions): Promise<{ port: number; seen: Seen[]; close: () => void }> {
  const seen: Seen[] = [];
  const server = tls.createServer({ ALPNProtocols: ['h2', 'http/1.1'], ...opts }, (s) => {
    const peer = s.getPeerCertificate();
    seen.push({
      servername: (s as tls.TLSSocket & { servername: string | false }).servername,
      alpn: s.alpnProtocol ?? false,
      clientSans: peer && 'subjectaltname' in peer ? subjectAltNamesOf(peer) : [],
    });
    s.end('hello from outside');
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, seen, close: () => server.close() };
}

function cluster(tlsSettings: ClientTlsSettings | undefined, external = true): Cluster {
  return {
    name: 'outbound|443||api.external.example',
    host: 'api.external.example',
    port: 443,
    protocol: 'http',
    external,
    endpoints: [],
    trafficPolicy: tlsSettings ? { tls: tlsSettings } : {},
  };
}

const endpoint = (port: number): EndpointRuntime =>
  ({ endpoint: { address: '127.0.0.1', port, labels: {} }, key: `127.0.0.1:${port}` }) as unknown as EndpointRuntime;

async function readAll(stream: Duplex): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('DestinationRule TLS origination', () => {
  let pki: ExternalPki;
  let dir: string;
  let mesh: Credentials;
  let server: Awaited<ReturnType<typeof tlsServer>>;
  let mutualServer: Awaited<ReturnType<typeof tlsServer>>;
  let factory: HboneTransportFactory;

  beforeAll(async () => {
    pki = makeExternalPki(['api.external.example', 'alt.external.example']);
    dir = await mkdtemp(path.join(os.tmpdir(), 'ambit-tls-origination-'));
    await writeFile(path.join(dir, 'ca.pem'), pki.caPem);
    await writeFile(path.join(dir, 'client.pem'), pki.clientCertPem);
    await writeFile(path.join(dir, 'client-key.pem'), pki.clientKeyPem);
    await mkdir(path.join(dir, 'creds', 'egress-client'), { recursive: true });
    await writeFile(path.join(dir, 'creds', 'egress-client', 'tls.crt'), pki.clientCertPem);
    await writeFile(path.join(dir, 'creds', 'egress-client', 'tls.key'), pki.clientKeyPem);
    await writeFile(path.join(dir, 'creds', 'egress-client', 'ca.crt'), pki.caPem);
    const ca = await testCa();
    mesh = await testCredentials(ca, 'coffee-shop', 'waypoint');
    server = await tlsServer({ cert: pki.serverCertPem, key: pki.serverKeyPem });
    mutualServer = await tlsServer({
      cert: pki.serverCertPem,
      key: pki.serverKeyPem,
      ca: pki.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    factory = new HboneTransportFactory({
      pool: {} as HbonePool,
      credentials: () => mesh,
      credentialsDir: path.join(dir, 'creds'),
      connectTimeoutMs: 10_000,
    });
  });
  afterAll(async () => {
    factory?.close();
    server?.close();
    mutualServer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIMPLE verifies the server against caCertificates (a file) and sends the host as SNI', async () => {
    const s = await factory.dial(
      cluster({ mode: 'SIMPLE', caCertificates: path.join(dir, 'ca.pem') }),
      endpoint(server.port),
    );
    expect(await readAll(s)).toBe('hello from outside');
    expect(server.seen.at(-1)).toMatchObject({ servername: 'api.external.example', alpn: 'http/1.1' });
  });

  it('SIMPLE sends `sni` when set and refuses a server whose certificate does not name it', async () => {
    await expect(
      factory.dial(
        cluster({ mode: 'SIMPLE', caCertificates: path.join(dir, 'ca.pem'), sni: 'other.example' }),
        endpoint(server.port),
      ),
    ).rejects.toThrow(/other\.example/);
  });

  it('SIMPLE refuses a server signed by a CA it was not given', async () => {
    await expect(factory.dial(cluster({ mode: 'SIMPLE' }), endpoint(server.port))).rejects.toThrow(
      /certificate|issuer/i,
    );
  });

  it('subjectAltNames replace the host check: one must be a SAN of the server certificate', async () => {
    const caCertificates = path.join(dir, 'ca.pem');
    const ok = await factory.dial(
      cluster({ mode: 'SIMPLE', caCertificates, sni: 'front.example', subjectAltNames: ['alt.external.example'] }),
      endpoint(server.port),
    );
    expect(await readAll(ok)).toBe('hello from outside');
    expect(server.seen.at(-1)?.servername).toBe('front.example');
    await expect(
      factory.dial(
        cluster({ mode: 'SIMPLE', caCertificates, subjectAltNames: ['nobody.example'] }),
        endpoint(server.port),
      ),
    ).rejects.toMatchObject({ code: 'AMBIT_E_TLS_PEER' });
  });

  it('MUTUAL presents clientCertificate/privateKey files; the server verifies them', async () => {
    const s = await factory.dial(
      cluster({
        mode: 'MUTUAL',
        caCertificates: path.join(dir, 'ca.pem'),
        clientCertificate: path.join(dir, 'client.pem'),
        privateKey: path.join(dir, 'client-key.pem'),
      }),
      endpoint(mutualServer.port),
    );
    expect(await readAll(s)).toBe('hello from outside');
    expect(mutualServer.seen.at(-1)?.clientSans).toEqual(['mesh-egress-client']);
  });

  it('MUTUAL with credentialName reads tls.crt, tls.key and ca.crt of that credential', async () => {
    const s = await factory.dial(
      cluster({ mode: 'MUTUAL', credentialName: 'egress-client' }),
      endpoint(mutualServer.port),
    );
    expect(await readAll(s)).toBe('hello from outside');
    expect(mutualServer.seen.at(-1)?.clientSans).toEqual(['mesh-egress-client']);
  });

  it('SIMPLE with credentialName takes the CA from a credential holding only ca.crt', async () => {
    await mkdir(path.join(dir, 'creds', 'ca-only'), { recursive: true });
    await writeFile(path.join(dir, 'creds', 'ca-only', 'ca.crt'), pki.caPem);
    const s = await factory.dial(cluster({ mode: 'SIMPLE', credentialName: 'ca-only' }), endpoint(server.port));
    expect(await readAll(s)).toBe('hello from outside');
  });

  it('MUTUAL without a client certificate, or with a missing credential, fails naming the field', async () => {
    await expect(
      factory.dial(cluster({ mode: 'MUTUAL', caCertificates: path.join(dir, 'ca.pem') }), endpoint(mutualServer.port)),
    ).rejects.toMatchObject({ code: 'AMBIT_E_CONFIG' });
    await expect(
      factory.dial(cluster({ mode: 'MUTUAL', credentialName: 'absent' }), endpoint(mutualServer.port)),
    ).rejects.toThrow(/credentialName absent/);
  });

  it('ISTIO_MUTUAL to an external host presents the mesh certificate and checks the peer identity', async () => {
    const ca = await testCa();
    const waypointCreds = await testCredentials(ca, 'coffee-shop', 'waypoint');
    const peer = await testCredentials(ca, 'istio-system', 'egress-gateway');
    const meshServer = await tlsServer({
      cert: peer.certChainPem,
      key: peer.keyPem,
      ca: peer.rootsPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const f = new HboneTransportFactory({ pool: {} as HbonePool, credentials: () => waypointCreds });
    try {
      const s = await f.dial(
        cluster({ mode: 'ISTIO_MUTUAL', sni: 'egress.example', subjectAltNames: [peer.identity] }),
        endpoint(meshServer.port),
      );
      expect(await readAll(s)).toBe('hello from outside');
      expect(meshServer.seen.at(-1)).toMatchObject({
        servername: 'egress.example',
        clientSans: [waypointCreds.identity],
      });
      await expect(
        f.dial(
          cluster({ mode: 'ISTIO_MUTUAL', subjectAltNames: ['spiffe://cluster.local/ns/x/sa/y'] }),
          endpoint(meshServer.port),
        ),
      ).rejects.toMatchObject({ code: 'AMBIT_E_TLS_PEER' });
    } finally {
      f.close();
      meshServer.close();
    }
  });

  it('a DestinationRule that changes the TLS settings gets a new transport, not the kept-alive one', () => {
    const ep = endpoint(mutualServer.port);
    const simple = cluster({ mode: 'SIMPLE', credentialName: 'egress-client' });
    const mutual = cluster({ mode: 'MUTUAL', credentialName: 'egress-client' });
    const first = factory.forEndpoint(simple, ep);
    expect(factory.forEndpoint(cluster({ mode: 'SIMPLE', credentialName: 'egress-client' }), ep)).toBe(first);
    expect(factory.forEndpoint(mutual, ep)).not.toBe(first);
  });

  it('ISTIO_MUTUAL on a host of the mesh registry leaves a non-enrolled endpoint plain TCP', async () => {
    const s = await factory.dial(cluster({ mode: 'ISTIO_MUTUAL' }, false), endpoint(server.port));
    // A TLS server answers plaintext bytes with nothing TLS-shaped from us: the socket is plain TCP.
    expect(s).not.toBeInstanceOf(tls.TLSSocket);
    s.destroy();
  });
});
