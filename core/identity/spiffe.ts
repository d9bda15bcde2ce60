// SPIFFE ids of the Kubernetes form Istio uses: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
// Rules from the SPIFFE ID spec: trust domain [a-z0-9._-], path segments [A-Za-z0-9._-],
// neither "." nor ".." as a segment, no query, fragment, port or user info.

import { AmbitError } from '../errors.js';

export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_URI = 2048;
const MAX_TRUST_DOMAIN = 255;
const MAX_NAMESPACE = 63;
const MAX_SERVICE_ACCOUNT = 253;

function invalid(message: string, hint: string): AmbitError {
  return new AmbitError('AMBIT_E_SPIFFE_ID', message, { hint });
}

/** Throws AMBIT_E_SPIFFE_ID when `td` cannot be a trust domain. */
export function validateTrustDomain(td: string): void {
  if (td.length === 0) throw invalid('trust domain is empty', 'use a DNS-like name such as cluster.local');
  if (td.length > MAX_TRUST_DOMAIN)
    throw invalid(
      `trust domain "${td.slice(0, 40)}…" is longer than ${MAX_TRUST_DOMAIN} characters`,
      'use a shorter trust domain',
    );
  if (!TRUST_DOMAIN.test(td)) {
    const hint = /[A-Z]/.test(td)
      ? 'trust domains are lower case'
      : 'allowed characters: a-z 0-9 . - _ (no port, no user info)';
    throw invalid(`trust domain "${td}" has characters outside [a-z0-9._-]`, hint);
  }
}

function validateSegment(kind: 'namespace' | 'service account', value: string, max: number, uri: string): void {
  const where = uri ? ` in "${uri}"` : '';
  if (value.length === 0)
    throw invalid(
      `${kind} is empty${where}`,
      'the form is spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    );
  if (value.length > max)
    throw invalid(
      `${kind} "${value.slice(0, 40)}…"${where} is longer than ${max} characters`,
      `Kubernetes limits a ${kind} name to ${max} characters`,
    );
  if (value === '.' || value === '..')
    throw invalid(`${kind} "${value}"${where} is a relative path segment`, 'path segments may not be "." or ".."');
  if (!SEGMENT.test(value))
    throw invalid(`${kind} "${value}"${where} has characters outside [A-Za-z0-9._-]`, 'use the Kubernetes object name');
}

export function parseSpiffeId(uri: string): SpiffeId {
  if (typeof uri !== 'string' || uri.length === 0)
    throw invalid('SPIFFE id is empty', 'expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>');
  if (uri.length > MAX_URI)
    throw invalid(`SPIFFE id is longer than ${MAX_URI} characters`, 'SPIFFE ids are at most 2048 bytes');
  if (!uri.startsWith(SCHEME))
    throw invalid(
      `"${uri}" is not a SPIFFE id: the scheme must be spiffe://`,
      'expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    );
  if (/[?#]/.test(uri)) throw invalid(`SPIFFE id "${uri}" has a query or fragment`, 'SPIFFE ids carry neither');
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  if (/[:@]/.test(trustDomain))
    throw invalid(
      `SPIFFE id "${uri}" has a port or user info in its trust domain`,
      'the trust domain is a bare name such as cluster.local',
    );
  validateTrustDomain(trustDomain);
  const path = slash < 0 ? '' : rest.slice(slash);
  const segments = path.split('/').slice(1);
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
    throw invalid(
      `SPIFFE id "${uri}" does not have the path /ns/<namespace>/sa/<service-account>`,
      'Ambit identities are per Kubernetes service account',
    );
  }
  const namespace = segments[1] ?? '';
  const serviceAccount = segments[3] ?? '';
  validateSegment('namespace', namespace, MAX_NAMESPACE, uri);
  validateSegment('service account', serviceAccount, MAX_SERVICE_ACCOUNT, uri);
  return { trustDomain, namespace, serviceAccount };
}

export function formatSpiffeId(id: SpiffeId): string {
  validateTrustDomain(id.trustDomain);
  validateSegment('namespace', id.namespace, MAX_NAMESPACE, '');
  validateSegment('service account', id.serviceAccount, MAX_SERVICE_ACCOUNT, '');
  return `${SCHEME}${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

export function spiffeIdFor(trustDomain: string, namespace: string, serviceAccount: string): string {
  return formatSpiffeId({ trustDomain, namespace, serviceAccount });
}

/** The parsed id, or undefined when `uri` is not a SPIFFE id of the Kubernetes form (no throw). */
export function tryParseSpiffeId(uri: string | undefined): SpiffeId | undefined {
  if (uri === undefined) return undefined;
  try {
    return parseSpiffeId(uri);
  } catch {
    return undefined;
  }
}

/** True when `uri` parses as a SPIFFE id (no throw). */
export function isSpiffeId(uri: string): boolean {
  try {
    parseSpiffeId(uri);
    return true;
  } catch {
    return false;
  }
}
