// The CA directory: generated and persisted on first start, or Istio's plugged-in cacerts
// (made here with the openssl CLI, as an operator would: RSA root, EC intermediate).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority } from './ca.js';
import { parseCertificates } from './x509.js';
import { identityOfCertificate } from './verify.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'ambit-ca-'));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: 'pipe' });
};

/** Istio's "plug in CA certificates" layout: root-ca → intermediate, files in `dir`. */
function pluggedInCa(dir: string): void {
  execFileSync('mkdir', ['-p', dir]);
  const p = (f: string): string => join(dir, f);
  writeFileSync(
    p('ext.cnf'),
    '[ca]\nbasicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n',
  );
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('root-key.pem'),
    '-out',
    p('root-cert.pem'),
    '-days',
    '30',
    '-subj',
    '/O=Istio/CN=Root CA',
    '-addext',
    'basicConstraints=critical,CA:true',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p('ca-key.pem'),
    '-out',
    p('ca.csr'),
    '-subj',
    '/O=Istio/CN=Intermediate CA/L=cluster1',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    p('ca.csr'),
    '-CA',
    p('root-cert.pem'),
    '-CAkey',
    p('root-key.pem'),
    '-CAcreateserial',
    '-out',
    p('ca-cert.pem'),
    '-days',
    '10',
    '-extfile',
    p('ext.cnf'),
    '-extensions',
    'ca',
  );
  writeFileSync(p('cert-chain.pem'), readFileSync(p('ca-cert.pem'), 'utf8') + readFileSync(p('root-cert.pem'), 'utf8'));
}

describe('CertificateAuthority.loadOrCreate', () => {
  it('generates a root on first start, persists it, and loads the same one next time', async () => {
    const dir = join(base, 'fresh', 'ca');
    const first = await CertificateAuthority.loadOrCreate(dir, { trustDomain: 'cluster.local' });
    for (const f of ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem'])
      expect(statSync(join(dir, f)).size).toBeGreaterThan(0);
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    const second = await CertificateAuthority.loadOrCreate(dir);
    expect(second.rootsPem).toBe(first.rootsPem);
    const creds = await second.issue(SLEEP);
    const [leaf, ...rest] = parseCertificates(creds.certChainPem);
    expect(rest).toHaveLength(0); // the self-signed root is not sent in the chain
    expect(leaf!.verify(parseCertificates(first.rootsPem)[0]!.publicKey)).toBe(true);
  });

  it('signs with a plugged-in intermediate; the chain is leaf + intermediate and verifies to the root', async () => {
    const dir = join(base, 'plugged');
    pluggedInCa(dir);
    const ca = await CertificateAuthority.loadOrCreate(dir);
    expect(ca.rootsPem).toBe(readFileSync(join(dir, 'root-cert.pem'), 'utf8'));
    const creds = await ca.issue(SLEEP, { ttlSeconds: 3600 });
    const chain = parseCertificates(creds.certChainPem);
    expect(chain).toHaveLength(2);
    expect(identityOfCertificate(chain[0]!)).toBe(SLEEP);
    expect(chain[1]!.subject).toContain('CN=Intermediate CA');
    writeFileSync(join(dir, 'leaf.pem'), chain[0]!.toString());
    writeFileSync(join(dir, 'untrusted.pem'), chain[1]!.toString());
    const out = execFileSync('openssl', [
      'verify',
      '-CAfile',
      join(dir, 'root-cert.pem'),
      '-untrusted',
      join(dir, 'untrusted.pem'),
      '-purpose',
      'sslclient',
      join(dir, 'leaf.pem'),
    ]).toString();
    expect(out).toMatch(/leaf.pem: OK/);

    // Node's TLS accepts leaf + intermediate against the RSA root, both ways.
    const serverCreds = await ca.issue('spiffe://cluster.local/ns/backend/sa/httpbin');
    const server = tls.createServer(
      {
        key: serverCreds.keyPem,
        cert: serverCreds.certChainPem,
        ca: ca.rootsPem,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      (socket) => {
        socket.end(identityOfCertificate(socket.getPeerX509Certificate()!) ?? 'none');
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        key: creds.keyPem,
        cert: creds.certChainPem,
        ca: ca.rootsPem,
        checkServerIdentity: () => undefined,
      });
      let data = '';
      socket.on('data', (d: Buffer) => {
        data += d.toString();
      });
      await once(socket, 'end');
      expect(identityOfCertificate(socket.getPeerX509Certificate()!)).toBe(
        'spiffe://cluster.local/ns/backend/sa/httpbin',
      );
      socket.destroy();
      expect(data).toBe(SLEEP);
    } finally {
      server.close();
    }
  });

  it('refuses an incomplete or inconsistent cacerts directory with the file named', async () => {
    const dir = join(base, 'broken');
    pluggedInCa(dir);
    const other = join(base, 'other');
    pluggedInCa(other);

    copyFileSync(join(other, 'ca-key.pem'), join(dir, 'ca-key.pem'));
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toMatchObject({
      code: 'AMBIT_E_CA',
      message: expect.stringMatching(/ca-key.pem does not match/),
    });

    copyFileSync(join(other, 'ca-cert.pem'), join(dir, 'ca-cert.pem'));
    copyFileSync(join(other, 'cert-chain.pem'), join(dir, 'cert-chain.pem'));
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toMatchObject({
      code: 'AMBIT_E_CA',
      message: expect.stringMatching(/does not lead to a certificate of root-cert.pem/),
    });

    unlinkSync(join(dir, 'ca-key.pem'));
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toMatchObject({
      code: 'AMBIT_E_CA',
      message: expect.stringMatching(/ca-key.pem is missing/),
    });

    writeFileSync(join(dir, 'ca-key.pem'), 'not a key');
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toMatchObject({
      code: 'AMBIT_E_CA',
      message: expect.stringMatching(/ca-key.pem is not a readable private key/),
    });
  });
});
