import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from './ca.js';
import { createCsr, generateWorkloadKey } from './csr.js';
import { identityOfCertificate } from './verify.js';
import { parseCertificates } from './x509.js';
import { isAmbitError } from '../errors.js';
import { testCa, testCredentials } from '../../test/support/pki.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

async function expectCode(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAmbitError(err), `expected an AmbitError, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  expect((err as Error).message).toMatch(text);
  expect((err as { hint?: string }).hint).toBeTruthy();
}

describe('CertificateAuthority', () => {
  it('creates a self-signed CA root with keyCertSign', async () => {
    const ca = await testCa('example.org');
    const [root] = parseCertificates(ca.rootsPem);
    expect(root).toBeDefined();
    expect(root!.ca).toBe(true);
    expect(root!.checkIssued(root!)).toBe(true);
    expect(root!.verify(root!.publicKey)).toBe(true);
    expect(root!.subject).toContain('O=example.org');
    expect(root!.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ca.trustDomain).toBe('example.org');
  });

  it('issues a leaf with the URI SAN, leaf constraints and the requested TTL', async () => {
    const ca = await testCa();
    const creds = await testCredentials(ca, 'default', 'sleep', { ttlSeconds: 600 });
    expect(creds.identity).toBe(SLEEP);
    const [leaf, ...rest] = parseCertificates(creds.certChainPem);
    expect(rest).toHaveLength(0);
    const [root] = parseCertificates(ca.rootsPem);
    expect(leaf!.ca).toBe(false);
    expect(leaf!.checkIssued(root!)).toBe(true);
    expect(leaf!.verify(root!.publicKey)).toBe(true);
    expect(identityOfCertificate(leaf!)).toBe(SLEEP);
    expect(leaf!.subjectAltName).toBe(`URI:${SLEEP}`);
    expect(leaf!.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(leaf!.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(creds.keyPem)))).toBe(true);
    const lifetime = (creds.notAfter.getTime() - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(590);
    expect(lifetime).toBeLessThanOrEqual(601);
    expect(creds.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
    expect(leaf!.serialNumber).not.toBe(
      parseCertificates((await testCredentials(ca, 'default', 'sleep')).certChainPem)[0]!.serialNumber,
    );
  });

  it('defaults to a 24 h lifetime', async () => {
    const ca = await testCa();
    const creds = await ca.issue(SLEEP);
    const hours = (creds.notAfter.getTime() - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24 + 1 / 3600); // rounded up to the next second
  });

  it('issues expired certificates when asked (for tests)', async () => {
    const ca = await testCa();
    const creds = await testCredentials(ca, 'default', 'sleep', {
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    expect(creds.notAfter.getTime()).toBeLessThan(Date.now());
  });

  it('signs a CSR made by a client key through asClient()', async () => {
    const ca = await testCa();
    const key = await generateWorkloadKey();
    const { certChainPem, rootsPem } = await ca
      .asClient()
      .sign({ csrPem: createCsr(SLEEP, key.privateKey), identity: SLEEP, ttlSeconds: 60 });
    const leaf = new X509Certificate(certChainPem);
    expect(leaf.checkPrivateKey(key.privateKey)).toBe(true);
    expect(rootsPem).toBe(ca.rootsPem);
  });

  it('refuses a CSR for a different identity than the one asked for', async () => {
    const ca = await testCa();
    const key = await generateWorkloadKey();
    const csrPem = createCsr('spiffe://cluster.local/ns/default/sa/other', key.privateKey);
    await expectCode(
      ca.sign({ csrPem, identity: SLEEP, ttlSeconds: 60 }),
      'AMBIT_E_CSR',
      /spiffe:\/\/cluster.local\/ns\/default\/sa\/other.*not exactly spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep/,
    );
  });

  it('refuses an identity in another trust domain', async () => {
    const ca = await testCa();
    const other = 'spiffe://evil.example/ns/default/sa/sleep';
    const key = await generateWorkloadKey();
    await expectCode(
      ca.sign({ csrPem: createCsr(other, key.privateKey), identity: other, ttlSeconds: 60 }),
      'AMBIT_E_CSR',
      /trust domain "evil.example".*"cluster.local"/,
    );
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const ca = await testCa();
    const key = await generateWorkloadKey();
    const csrPem = createCsr(SLEEP, key.privateKey);
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 5]! ^= 0x01; // flip a bit of the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expectCode(ca.sign({ csrPem: tampered, identity: SLEEP, ttlSeconds: 60 }), 'AMBIT_E_CSR', /signature/);
  });

  it('refuses garbage, a malformed identity and a non-positive TTL', async () => {
    const ca = await testCa();
    const key = await generateWorkloadKey();
    await expectCode(
      ca.sign({ csrPem: 'hello', identity: SLEEP, ttlSeconds: 60 }),
      'AMBIT_E_CSR',
      /CERTIFICATE REQUEST/,
    );
    await expectCode(
      ca.sign({ csrPem: createCsr(SLEEP, key.privateKey), identity: 'spiffe://cluster.local/sleep', ttlSeconds: 60 }),
      'AMBIT_E_CSR',
      /path/,
    );
    await expectCode(
      ca.sign({ csrPem: createCsr(SLEEP, key.privateKey), identity: SLEEP, ttlSeconds: 0 }),
      'AMBIT_E_CSR',
      /TTL/,
    );
  });

  it('rejects a bad trust domain at creation', async () => {
    await expect(CertificateAuthority.create({ trustDomain: 'Cluster.Local' })).rejects.toMatchObject({
      code: 'AMBIT_E_SPIFFE_ID',
    });
  });
});
