// Reading identities and validity out of certificates (peer certificates in HBONE, admin dumps).

import type { X509Certificate } from 'node:crypto';

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
