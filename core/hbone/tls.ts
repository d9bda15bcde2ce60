// TLS pieces of HBONE: one SecureContext per Credentials object (building one costs
// milliseconds of CPU, so it is never done per connection), TLS 1.3 only, and the SPIFFE
// identity of a peer read from its certificate's URI SAN.
import tls from 'node:tls';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { AmbitError } from '../errors.js';
import type { Credentials } from '../identity/types.js';

export const HBONE_ALPN = 'h2';
export const TLS_MIN_VERSION = 'TLSv1.3' as const;
/** AES-128-GCM first (as HAProxy's best configuration): ~6% cheaper per byte than AES-256 here. */
export const TLS13_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

const contexts = new WeakMap<Credentials, SecureContext>();

/**
 * The options a TLS endpoint needs to present and verify with `creds`. One context serves
 * both sides: the server-only settings (cipher order, session id context, which OpenSSL
 * needs to resume a session when client certificates are verified) are inert on a client.
 */
export function secureContextOptions(creds: Credentials): tls.SecureContextOptions {
  return {
    key: creds.keyPem,
    cert: creds.certChainPem,
    ca: creds.rootsPem,
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS13_CIPHERS,
    honorCipherOrder: true,
    sessionIdContext: 'ambit-hbone',
  };
}

/**
 * The shared SecureContext of one Credentials object (built once, reused by every connection,
 * the HBONE pool's and every HBONE server presenting it: ~18 KiB of OpenSSL memory each).
 */
export function secureContextFor(creds: Credentials): SecureContext {
  let ctx = contexts.get(creds);
  if (!ctx) {
    try {
      ctx = tls.createSecureContext(secureContextOptions(creds));
    } catch (err) {
      throw new AmbitError(
        'AMBIT_E_CERT',
        `credentials of ${creds.identity} are not usable for TLS: ${(err as Error).message}`,
        {
          hint: 'the key and certificate chain must be PEM and match each other; check the certificate store',
          cause: err,
        },
      );
    }
    contexts.set(creds, ctx);
  }
  return ctx;
}

/** URI SANs of a certificate as Node reports them ("URI:spiffe://…, DNS:…"). */
export function uriSans(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  const san = cert?.subjectaltname;
  if (!san) return [];
  const out: string[] = [];
  for (const part of san.split(', ')) {
    if (!part.startsWith('URI:')) continue;
    let value = part.slice(4);
    // Node JSON-quotes values with unusual characters; SPIFFE ids never need it, but be exact.
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push(value);
  }
  return out;
}

/** The SPIFFE id of a certificate (its first spiffe:// URI SAN), if any. */
export function spiffeIdOf(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string | undefined {
  return uriSans(cert).find((u) => u.startsWith('spiffe://'));
}

/** The SPIFFE id of the peer on an established TLS socket. */
export function peerIdentity(socket: Pick<TLSSocket, 'getPeerCertificate'>): string | undefined {
  const cert = socket.getPeerCertificate(false);
  return cert && Object.keys(cert).length > 0 ? spiffeIdOf(cert) : undefined;
}

export function inTrustDomain(identity: string, trustDomain: string): boolean {
  return identity.startsWith(`spiffe://${trustDomain}/`);
}

/** Marker on the Error returned by checkServerIdentity, so the client can tell it apart. */
export const IDENTITY_MISMATCH = Symbol('ambit.hbone.identityMismatch');

/**
 * A `checkServerIdentity` for tls.connect: the chain was already verified against the trust
 * bundle by OpenSSL; here the server's URI SAN must be one of the expected identities
 * (hostnames and IP SANs play no part in SPIFFE authentication).
 */
export function expectIdentity(
  expected: readonly string[],
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const sans = uriSans(cert);
    if (sans.some((s) => expected.includes(s))) return undefined;
    const err = new AmbitError(
      'AMBIT_E_TLS_PEER',
      `server presented ${sans.length ? sans.join(', ') : 'no URI SAN'}, expected ${expected.length ? expected.join(' or ') : '(no identity)'}`,
      {
        hint: 'the destination runs under another service account than the mesh config says; check the workload and its waypoint/agent identity',
      },
    );
    Object.defineProperty(err, IDENTITY_MISMATCH, { value: true });
    return err;
  };
}

/** Turn a TLS failure on the client into an AmbitError with a hint for the operator. */
export function tlsClientError(err: unknown, target: string, identity: string): AmbitError {
  if (err instanceof AmbitError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e?.code ?? '';
  const msg = e?.message ?? String(err);
  if (
    /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT|ERR_SSL_.*(CERTIFICATE|UNKNOWN_CA|DECRYPT)/.test(code) ||
    /certificate/i.test(msg)
  ) {
    return new AmbitError('AMBIT_E_TLS_PEER', `TLS with ${target} failed (${code || 'error'}): ${msg}`, {
      hint: `the peer's certificate does not chain to our trust bundle, is expired, or it refused ours (${identity}); check both ends share the mesh CA and clocks`,
      cause: err,
    });
  }
  if (/ALERT|SSL|TLS/.test(code)) {
    return new AmbitError('AMBIT_E_TLS_PEER', `TLS with ${target} failed (${code}): ${msg}`, {
      hint: 'the peer aborted the handshake: it must speak TLS 1.3 with ALPN h2 and trust our certificate',
      cause: err,
    });
  }
  return new AmbitError(
    'AMBIT_E_HBONE_CONNECT',
    `cannot reach HBONE endpoint ${target}: ${code ? `${code}: ` : ''}${msg}`,
    {
      hint: 'check the destination node agent/waypoint listens on the HBONE port (15008) and nothing blocks it',
      cause: err,
    },
  );
}
