import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from './ca.js';
import {
  identityOfCertificate,
  identityOfCertificatePem,
  urisOfCertificateDer,
  urisOfSubjectAltName,
} from './verify.js';

describe('identity from a certificate read as DER', () => {
  it('agrees with the X509Certificate parse for leaves and finds nothing in a root', async () => {
    const ca = await CertificateAuthority.create();
    const id = 'spiffe://cluster.local/ns/shop/sa/web';
    const creds = await ca.issue(id, { ttlSeconds: 60 });
    const leaf = new X509Certificate(creds.certChainPem);
    expect(identityOfCertificatePem(creds.certChainPem)).toBe(id);
    expect(identityOfCertificatePem(creds.certChainPem)).toBe(identityOfCertificate(leaf));
    expect(urisOfCertificateDer(leaf.raw)).toEqual(urisOfSubjectAltName(leaf.subjectAltName));
    expect(identityOfCertificatePem(ca.rootsPem)).toBeUndefined();
    expect(identityOfCertificatePem('no PEM here')).toBeUndefined();
  });

  it('throws on malformed DER', () => {
    expect(() => urisOfCertificateDer(Buffer.from([0x30, 0x05, 0x30]))).toThrow();
  });
});
