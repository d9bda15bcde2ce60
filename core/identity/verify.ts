// Reading identities and validity out of certificates (peer certificates in HBONE, admin dumps).

import type { X509Certificate } from 'node:crypto';
import { children, decode, decodeOid, type DerNode } from './der.js';

const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const TAG_EXTENSIONS = 0xa3; // tbsCertificate [3] EXPLICIT Extensions
const TAG_URI = 0x86; // GeneralName uniformResourceIdentifier [6] IMPLICIT IA5String

/** The first spiffe:// URI SAN of `cert`, or undefined. */
export function identityOfCertificate(cert: X509Certificate): string | undefined {
  return urisOfSubjectAltName(cert.subjectAltName).find((uri) => uri.startsWith('spiffe://'));
}

/**
 * Node renders SANs as `URI:a, DNS:b`; values with special characters are JSON-quoted
 * (`URI:"a,b"`). SPIFFE ids never contain commas or quotes, but parse both forms anyway.
 */
export function urisOfSubjectAltName(san: string | undefined): string[] {
  if (!san) return [];
  const uris: string[] = [];
  const re = /(?:^|,\s*)URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(san); m; m = re.exec(san)) {
    const raw = m[1] ?? '';
    try {
      uris.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw);
    } catch {
      // an unparseable quoted value is not a SPIFFE id
    }
  }
  return uris;
}

/** Whether `cert` is valid at `at` (default now). */
export function isCurrentlyValid(cert: X509Certificate, at: Date = new Date()): boolean {
  return new Date(cert.validFrom).getTime() <= at.getTime() && at.getTime() < new Date(cert.validTo).getTime();
}

/**
 * The URI SANs of a certificate, read from its DER without building an X509Certificate
 * (OpenSSL's parse costs more than the CA's signature; the CA client checks every
 * certificate it receives). Throws on malformed DER.
 */
export function urisOfCertificateDer(der: Buffer): string[] {
  const [tbs] = children(decode(der, 'certificate'), 'certificate');
  if (!tbs) return [];
  const extensions = children(tbs, 'certificate').find((n) => n.tag === TAG_EXTENSIONS);
  if (!extensions) return [];
  const [list] = children(extensions, 'certificate extensions');
  const uris: string[] = [];
  for (const ext of list ? children(list, 'certificate extensions') : []) {
    const parts = children(ext, 'certificate extension');
    const id = parts[0];
    const value: DerNode | undefined = parts[parts.length - 1];
    if (id?.tag !== 0x06 || value?.tag !== 0x04 || decodeOid(id) !== OID_SUBJECT_ALT_NAME) continue;
    for (const name of children(decode(value.content, 'subjectAltName'), 'subjectAltName')) {
      if (name.tag === TAG_URI) uris.push(name.content.toString('latin1'));
    }
  }
  return uris;
}

/** The first spiffe:// URI SAN of a PEM certificate (its first block), from the DER; undefined if none. */
export function identityOfCertificatePem(pem: string): string | undefined {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) return undefined;
  return urisOfCertificateDer(Buffer.from(body.replace(/\s+/g, ''), 'base64')).find((uri) =>
    uri.startsWith('spiffe://'),
  );
}
