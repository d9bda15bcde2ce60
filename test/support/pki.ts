// Test PKI: an in-memory CA and workload credentials for tests that need real certificates.

import { CertificateAuthority, type IssueOptions } from '../../core/identity/ca.js';
import { spiffeIdFor } from '../../core/identity/spiffe.js';
import type { Credentials } from '../../core/identity/types.js';

/** A fresh in-memory CA (ECDSA P-256 root) for `trustDomain` (default cluster.local). */
export async function testCa(trustDomain = 'cluster.local'): Promise<CertificateAuthority> {
  return CertificateAuthority.create({ trustDomain });
}

/**
 * Credentials for spiffe://<ca td>/ns/<ns>/sa/<sa>. `opts.notBefore`/`notAfter` make
 * not-yet-valid or expired certificates; `opts.ttlSeconds` short-lived ones.
 */
export async function testCredentials(
  ca: CertificateAuthority,
  ns: string,
  sa: string,
  opts?: IssueOptions,
): Promise<Credentials> {
  return ca.issue(spiffeIdFor(ca.trustDomain, ns, sa), opts);
}
