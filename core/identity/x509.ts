// X.509 v3 certificates built as DER (der.ts) and signed with node:crypto: SPIFFE leaves
// (URI SAN, key usages, short lifetimes) and self-signed CA roots.

import { createHash, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { AmbitError } from '../errors.js';
import {
  bitString,
  boolean,
  children,
  decode,
  explicit,
  ia5String,
  integer,
  octetString,
  oid,
  sequence,
  setOf,
  time,
  utf8String,
  nullValue,
  type DerNode,
} from './der.js';

export const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String. */
const GENERAL_NAME_URI = 0x86;
const GENERAL_NAME_DNS = 0x82;

/** The signature algorithm and digest for a signing key (EC P-256/P-384 or RSA). */
const algorithmOfKey = new WeakMap<KeyObject, { algId: Buffer; digest: 'sha256' | 'sha384' }>();

export function signatureAlgorithm(key: KeyObject): { algId: Buffer; digest: 'sha256' | 'sha384' } {
  let known = algorithmOfKey.get(key);
  if (!known) {
    known = algorithmFor(key);
    algorithmOfKey.set(key, known);
  }
  return known;
}

function algorithmFor(key: KeyObject): { algId: Buffer; digest: 'sha256' | 'sha384' } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp384r1') return { algId: sequence(oid(OID.ecdsaWithSha384)), digest: 'sha384' };
    return { algId: sequence(oid(OID.ecdsaWithSha256)), digest: 'sha256' };
  }
  if (key.asymmetricKeyType === 'rsa')
    return { algId: sequence(oid(OID.sha256WithRsa), nullValue()), digest: 'sha256' };
  throw new AmbitError('AMBIT_E_CA', `unsupported signing key type ${key.asymmetricKeyType ?? 'unknown'}`, {
    hint: 'use an EC (P-256/P-384) or RSA CA key',
  });
}

/** Sign a DER to-be-signed structure: SEQUENCE { tbs, algId, BIT STRING signature }. */
export function signStructure(tbs: Buffer, key: KeyObject): Buffer {
  const { algId, digest } = signatureAlgorithm(key);
  return sequence(tbs, algId, bitString(sign(digest, tbs, key)));
}

export function name(attrs: { organization?: string; commonName?: string }): Buffer {
  const rdns: Buffer[] = [];
  if (attrs.organization) rdns.push(setOf(sequence(oid(OID.organization), utf8String(attrs.organization))));
  if (attrs.commonName) rdns.push(setOf(sequence(oid(OID.commonName), utf8String(attrs.commonName))));
  return sequence(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

export function uriSanExtension(uris: readonly string[], dnsNames: readonly string[] = []): Buffer {
  // Critical: leaves have an empty subject, so the SAN is the whole identity (RFC 5280 4.2.1.6).
  return extension(
    OID.subjectAltName,
    true,
    sequence(...uris.map((u) => tlvUri(u)), ...dnsNames.map((d) => tlvTagged(GENERAL_NAME_DNS, d))),
  );
}

function tlvTagged(tag: number, text: string): Buffer {
  const encoded = ia5String(text);
  encoded[0] = tag;
  return encoded;
}

function tlvUri(uri: string): Buffer {
  return tlvTagged(GENERAL_NAME_URI, uri);
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1). */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const [, keyBits] = children(decode(spkiDer, 'public key'));
  if (!keyBits) throw new AmbitError('AMBIT_E_CERT', 'malformed public key', { hint: 'regenerate the key' });
  return createHash('sha1').update(keyBits.content.subarray(1)).digest();
}

export interface CertificateTemplate {
  subject: Buffer;
  issuer: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  uris?: readonly string[];
  /** DNS SANs (certificates for servers outside the mesh, e.g. `local up`'s external server). */
  dnsNames?: readonly string[];
  authorityKeyId?: Buffer;
}

/** A positive 128-bit serial (RFC 5280 allows up to 20 octets). */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

/** The signed certificate as PEM (parsing it back costs more than signing; callers that need an X509Certificate make one). */
export function buildCertificate(t: CertificateTemplate, signingKey: KeyObject): string {
  return toPem('CERTIFICATE', signStructure(tbsCertificate(t, signingKey), signingKey));
}

/** buildCertificate with the signature made on libuv's thread pool, off the event loop. */
export async function buildCertificateAsync(t: CertificateTemplate, signingKey: KeyObject): Promise<string> {
  const tbs = tbsCertificate(t, signingKey);
  const { algId, digest } = signatureAlgorithm(signingKey);
  const signature = await new Promise<Buffer>((resolve, reject) => {
    sign(digest, tbs, signingKey, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
  return toPem('CERTIFICATE', sequence(tbs, algId, bitString(signature)));
}

/** The to-be-signed part of a certificate (DER). */
function tbsCertificate(t: CertificateTemplate, signingKey: KeyObject): Buffer {
  const exts: Buffer[] = [];
  if (t.isCa) {
    exts.push(extension(OID.basicConstraints, true, sequence(boolean(true))));
    // keyCertSign (bit 5) + cRLSign (bit 6): 0b0000_0110, one unused bit
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)));
  } else {
    exts.push(extension(OID.basicConstraints, true, sequence()));
    // digitalSignature (bit 0) + keyEncipherment (bit 2): 0b1010_0000, five unused bits
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5)));
    exts.push(extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))));
  }
  if ((t.uris && t.uris.length > 0) || (t.dnsNames && t.dnsNames.length > 0))
    exts.push(uriSanExtension(t.uris ?? [], t.dnsNames ?? []));
  exts.push(extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(t.spkiDer))));
  if (t.authorityKeyId)
    exts.push(extension(OID.authorityKeyIdentifier, false, sequence(tagged(0x80, t.authorityKeyId))));

  const { algId } = signatureAlgorithm(signingKey);
  return sequence(
    explicit(0, integer(2)),
    integer(randomSerial()),
    algId,
    t.issuer,
    sequence(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.spkiDer,
    explicit(3, sequence(...exts)),
  );
}

function tagged(tag: number, content: Buffer): Buffer {
  const encoded = octetString(content);
  encoded[0] = tag;
  return encoded;
}

/** The fields of a certificate the CA needs to issue under it. */
export function certificateParts(cert: X509Certificate): { subject: Buffer; subjectKeyId: Buffer } {
  const [tbs] = children(decode(cert.raw, 'certificate'));
  if (!tbs) throw new AmbitError('AMBIT_E_CERT', 'malformed certificate', { hint: 'check the PEM file' });
  const fields = children(tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject) throw new AmbitError('AMBIT_E_CERT', 'certificate has no subject', { hint: 'check the PEM file' });
  const spki = cert.publicKey.export({ format: 'der', type: 'spki' });
  return { subject: subject.raw, subjectKeyId: findSubjectKeyId(fields[offset + 7]) ?? keyIdentifier(spki) };
}

function findSubjectKeyId(extsField: DerNode | undefined): Buffer | undefined {
  if (!extsField || extsField.tag !== 0xa3) return undefined;
  const [list] = children(extsField);
  for (const ext of list ? children(list) : []) {
    const parts = children(ext);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id && value && id.content.equals(oid(OID.subjectKeyIdentifier).subarray(2)))
      return decode(value.content).content;
  }
  return undefined;
}

export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/** Every PEM block of `label` in `text`, normalised. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return (text.match(re) ?? []).map((block) => `${block.trim()}\n`);
}

export function parseCertificates(text: string): X509Certificate[] {
  return pemBlocks(text).map((pem) => new X509Certificate(pem));
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

export function notBeforeOf(cert: X509Certificate): Date {
  return new Date(cert.validFrom);
}
export function notAfterOf(cert: X509Certificate): Date {
  return new Date(cert.validTo);
}
