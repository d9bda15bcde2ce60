// Node TLS options for the node-tls case: TLS 1.3 only, mutual authentication with the
// benchmark's SPIFFE identities (URI SAN checked instead of a host name).
import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { Credentials } from '../../core/identity/types.js';

function uriSans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

export function tlsServerOptions(creds: Credentials): TlsOptions {
  return {
    key: creds.keyPem,
    cert: creds.certChainPem,
    ca: creds.rootsPem,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
  };
}

export function tlsClientOptions(creds: Credentials, expectedServerId: string): ConnectionOptions {
  return {
    key: creds.keyPem,
    cert: creds.certChainPem,
    ca: creds.rootsPem,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    checkServerIdentity: (_host, peer) => {
      const cert = new X509Certificate(peer.raw);
      return uriSans(cert).includes(expectedServerId) ? undefined : new Error(`server is not ${expectedServerId}`);
    },
  };
}
