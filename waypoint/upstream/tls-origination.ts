// TLS origination to endpoints outside the mesh (DestinationRule `trafficPolicy.tls`), as
// Istio's client TLS settings mean it:
// - SIMPLE: verify the server against `caCertificates` (or the system roots), present nothing;
// - MUTUAL: the same, and present `clientCertificate` + `privateKey`;
// - ISTIO_MUTUAL: present the waypoint's own mesh certificate, verify against the mesh roots;
// - `credentialName` names a Secret holding tls.crt / tls.key / ca.crt. Like a mounted Secret
//   volume, it is read from `<credentialsDir>/<name>/`; a CA of its own may sit in
//   `<name>-cacert/ca.crt` (Istio's convention). File fields are paths on the waypoint's
//   machine; an inline PEM is accepted too.
// - `sni` is sent as the server name (default: the cluster's host; ISTIO_MUTUAL: none unless set);
//   `subjectAltNames`, when given, replace the host-name check: one DNS or URI SAN of the
//   server's certificate must equal one of them (ISTIO_MUTUAL without them: the endpoint's
//   SPIFFE identity when known, else any identity of the trust domain).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import tls, { type PeerCertificate } from 'node:tls';
import { AmbitError } from '../../core/errors.js';
import type { Credentials } from '../../core/identity/types.js';
import type { ClientTlsSettings, Cluster } from '../../core/model/l7.js';

/** Reads certificate material once per path until cleared (on each config change). */
export class TlsMaterial {
  private readonly cache = new Map<string, string>();

  constructor(private readonly credentialsDir?: string) {}

  /** An inline PEM as is; anything else is a file path. */
  pem(ref: string, field: string): string {
    if (ref.includes('-----BEGIN')) return ref;
    return this.file(ref, field);
  }

  /** tls.crt, tls.key and ca.crt of a credential, Istio's Secret layout (each may be absent; MUTUAL checks). */
  credential(name: string): { cert?: string; key?: string; ca?: string } {
    if (!this.credentialsDir)
      throw new AmbitError('AMBIT_E_CONFIG', `tls.credentialName ${name}: no credentials directory is configured`, {
        hint: 'mount the Secret under the waypoint credentials directory, or use clientCertificate/privateKey files',
      });
    const dir = path.join(this.credentialsDir, path.basename(name));
    if (!existsSync(dir))
      throw new AmbitError('AMBIT_E_CONFIG', `tls.credentialName ${name}: no such credential (${dir})`, {
        hint: 'a credential is a folder with tls.crt, tls.key and/or ca.crt',
      });
    const field = `tls.credentialName ${name}`;
    const cert = this.optional(path.join(dir, 'tls.crt'), field);
    const key = this.optional(path.join(dir, 'tls.key'), field);
    const ca =
      this.optional(path.join(dir, 'ca.crt'), field) ?? this.optional(path.join(`${dir}-cacert`, 'ca.crt'), field);
    return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}) };
  }

  clear(): void {
    this.cache.clear();
  }

  private optional(file: string, field: string): string | undefined {
    try {
      return this.file(file, field);
    } catch {
      return undefined;
    }
  }

  private file(file: string, field: string): string {
    const hit = this.cache.get(file);
    if (hit !== undefined) return hit;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new AmbitError('AMBIT_E_CONFIG', `${field}: cannot read ${file}: ${(err as Error).message}`, {
        hint: 'the file must exist on the waypoint (or gateway) machine',
      });
    }
    this.cache.set(file, text);
    return text;
  }
}

/** SANs of a peer certificate as Node renders them (`DNS:a, URI:b, IP Address:c`). */
export function subjectAltNamesOf(cert: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  if (!cert.subjectaltname) return [];
  return cert.subjectaltname
    .split(/,\s*/)
    .map((part) => part.replace(/^(DNS|URI|IP Address):/, '').replace(/^"|"$/g, ''))
    .filter((v) => v !== '');
}

/** A checkServerIdentity that accepts only a certificate carrying one of `expected` as a SAN. */
export function expectSubjectAltNames(
  expected: readonly string[],
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const sans = subjectAltNamesOf(cert);
    if (sans.some((san) => expected.includes(san))) return undefined;
    return new AmbitError(
      'AMBIT_E_TLS_PEER',
      `upstream certificate SANs [${sans.join(', ')}] match none of subjectAltNames [${expected.join(', ')}]`,
    );
  };
}

export interface OriginationTarget {
  readonly cluster: Pick<Cluster, 'host' | 'protocol'>;
  readonly address: string;
  readonly port: number;
  /** The endpoint's SPIFFE identity, when the registry knows it (ISTIO_MUTUAL). */
  readonly identity?: string;
}

/** Node TLS client options for one endpoint under `t`; throws AmbitError on missing material. */
export function originationOptions(
  t: ClientTlsSettings,
  to: OriginationTarget,
  material: TlsMaterial,
  mesh: () => Credentials,
): tls.ConnectionOptions {
  const alpn = to.cluster.protocol === 'http2' || to.cluster.protocol === 'grpc' ? ['h2'] : ['http/1.1'];
  const base: tls.ConnectionOptions = {
    host: to.address,
    port: to.port,
    ALPNProtocols: alpn,
    rejectUnauthorized: !t.insecureSkipVerify,
  };
  if (t.mode === 'ISTIO_MUTUAL') {
    const creds = mesh();
    const expected = t.subjectAltNames?.length ? t.subjectAltNames : to.identity ? [to.identity] : undefined;
    const trustDomain = /^spiffe:\/\/([^/]+)/.exec(creds.identity)?.[1] ?? '';
    return {
      ...base,
      ...(t.sni ? { servername: t.sni } : {}),
      cert: creds.certChainPem,
      key: creds.keyPem,
      ca: creds.rootsPem,
      checkServerIdentity: expected
        ? expectSubjectAltNames(expected)
        : (_host, cert) =>
            subjectAltNamesOf(cert).some((s) => s.startsWith(`spiffe://${trustDomain}/`))
              ? undefined
              : new AmbitError('AMBIT_E_TLS_PEER', `upstream certificate has no identity of ${trustDomain}`),
    };
  }
  const fromSecret = t.credentialName ? material.credential(t.credentialName) : undefined;
  const ca = fromSecret?.ca ?? (t.caCertificates ? material.pem(t.caCertificates, 'tls.caCertificates') : undefined);
  const clientPair =
    t.mode === 'MUTUAL'
      ? fromSecret?.cert
        ? fromSecret
        : {
            cert: t.clientCertificate ? material.pem(t.clientCertificate, 'tls.clientCertificate') : undefined,
            key: t.privateKey ? material.pem(t.privateKey, 'tls.privateKey') : undefined,
          }
      : undefined;
  if (t.mode === 'MUTUAL' && (!clientPair?.cert || !clientPair.key))
    throw new AmbitError('AMBIT_E_CONFIG', `tls MUTUAL to ${to.cluster.host}: no client certificate and key`, {
      hint: 'set credentialName, or clientCertificate and privateKey',
    });
  return {
    ...base,
    servername: t.sni ?? to.cluster.host,
    ...(ca ? { ca } : {}),
    ...(clientPair ? { cert: clientPair.cert, key: clientPair.key } : {}),
    ...(t.subjectAltNames?.length ? { checkServerIdentity: expectSubjectAltNames(t.subjectAltNames) } : {}),
  };
}

/** Opens TLS to the endpoint; resolves once the handshake (and its verification) passed. */
export function connectTls(options: tls.ConnectionOptions, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options);
    const timer = setTimeout(
      () =>
        socket.destroy(
          new AmbitError('AMBIT_E_TIMEOUT', `TLS to ${options.host}:${options.port} timed out after ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
