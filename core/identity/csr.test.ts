import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createCsr, generateWorkloadKey, parseCsr } from './csr.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/web';
const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
const pemOf = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;

describe('CSR parsing', () => {
  it('reads a P-256 CSR: its key, SPKI and URI SAN', async () => {
    const key = await generateWorkloadKey();
    const csr = parseCsr(createCsr(ID, key.privateKey));
    expect(csr.uris).toEqual([ID]);
    expect(csr.publicKey.asymmetricKeyType).toBe('ec');
    expect(csr.publicKey.export({ format: 'der', type: 'spki' }).equals(csr.spkiDer)).toBe(true);
  });

  it('refuses a P-256 point that is not on the curve', async () => {
    const key = await generateWorkloadKey();
    const der = derOf(createCsr(ID, key.privateKey));
    // The point follows the P-256 OID (06 08 2a 86 48 ce 3d 03 01 07) and BIT STRING header 03 42 00 04.
    const at = der.indexOf(Buffer.from('2a8648ce3d030107034200', 'hex')) + 11;
    expect(der[at]).toBe(0x04);
    der[at + 40] = der[at + 40]! ^ 0xff;
    expect(() => parseCsr(pemOf(der))).toThrow(/the CSR public key cannot be read/);
  });

  it('names the key of a refused CSR', () => {
    expect(() => parseCsr(createCsr(ID, generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey))).toThrow(
      /curve secp384r1; only P-256/,
    );
    expect(() => parseCsr(createCsr(ID, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey))).toThrow(
      /RSA with 1024 bits/,
    );
    expect(parseCsr(createCsr(ID, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)).uris).toEqual([ID]);
  });

  it('refuses an empty, oversized or garbled CSR with a clear error', () => {
    expect(() => parseCsr('')).toThrow('the request carries no CSR');
    expect(() => parseCsr('x'.repeat(20_000))).toThrow(/the CSR is 20000 bytes; at most 16384/);
    expect(() => parseCsr(pemOf(Buffer.from([0x30, 0x03, 0x02, 0x01])))).toThrow(/not valid DER/);
  });
});
