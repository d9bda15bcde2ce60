// The PKI of a server outside the mesh (`local up`'s external server, the egress tests): a CA
// of its own, unrelated to the mesh's, a server certificate with DNS names, and a client
// certificate for MUTUAL origination. ECDSA P-256, one day.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { buildCertificate, keyIdentifier, name } from './x509.js';

export interface ExternalPki {
  readonly caPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
}

function keyPair(): { privateKey: KeyObject; spkiDer: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spkiDer: publicKey.export({ format: 'der', type: 'spki' }) };
}

export function makeExternalPki(serverNames: readonly string[], clientName = 'mesh-egress-client'): ExternalPki {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const ca = keyPair();
  const caName = name({ organization: 'ambit external', commonName: 'external test CA' });
  const caKeyId = keyIdentifier(ca.spkiDer);
  const caPem = buildCertificate(
    { subject: caName, issuer: caName, spkiDer: ca.spkiDer, notBefore, notAfter, isCa: true },
    ca.privateKey,
  );
  const leaf = (dnsNames: readonly string[]): { certPem: string; keyPem: string } => {
    const k = keyPair();
    const certPem = buildCertificate(
      {
        subject: name({}),
        issuer: caName,
        spkiDer: k.spkiDer,
        notBefore,
        notAfter,
        isCa: false,
        dnsNames,
        authorityKeyId: caKeyId,
      },
      ca.privateKey,
    );
    return { certPem, keyPem: k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
  };
  const server = leaf(serverNames);
  const client = leaf([clientName]);
  return {
    caPem,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    clientCertPem: client.certPem,
    clientKeyPem: client.keyPem,
  };
}
