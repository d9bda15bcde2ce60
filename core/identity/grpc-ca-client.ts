// A CaClient over the controller's CertificateService (gRPC over TLS). The server is trusted
// through the given roots and identified by its SPIFFE URI SAN (it has no DNS name); the
// caller authenticates with a bearer token and, for agents, its node name.

import { readFile } from 'node:fs/promises';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AmbitError } from '../errors.js';
import type { CaClient } from './types.js';
import {
  CA_METADATA,
  certificateService,
  type CertificateRequestMessage,
  type CertificateResponseMessage,
} from './ca-proto.js';
import { identityOfCertificatePem, urisOfSubjectAltName } from './verify.js';

export interface GrpcCaClientOptions {
  /** host:port of the controller (15012) */
  address: string;
  /** PEM roots that issued the controller's serving certificate */
  rootsPem: string;
  /** The bearer token, or a function that reads it on every call (projected tokens rotate). */
  token: string | (() => string | Promise<string>);
  /** Sent as ambit-node-name (agents). */
  nodeName?: string;
  /** The controller's SPIFFE id; when set, the server certificate must carry it. */
  serverIdentity?: string;
  timeoutMs?: number;
}

export interface GrpcCaClient extends CaClient {
  close(): void;
}

/** Read a token file on every call (Kubernetes rotates projected service-account tokens). */
export function tokenFromFile(path: string): () => Promise<string> {
  return async () => (await readFile(path, 'utf8')).trim();
}

type CreateCertificate = (
  req: CertificateRequestMessage,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: CertificateResponseMessage) => void,
) => void;

export function createGrpcCaClient(opts: GrpcCaClientOptions): GrpcCaClient {
  if (!opts.address)
    throw new AmbitError('AMBIT_E_CONFIG', 'CA client: no controller address', {
      hint: 'set the controller address (host:15012)',
    });
  if (!opts.rootsPem?.includes('BEGIN CERTIFICATE'))
    throw new AmbitError('AMBIT_E_CONFIG', 'CA client: rootsPem holds no PEM certificate', {
      hint: 'pass the root that issued the controller certificate',
    });
  if (typeof opts.token !== 'string' && typeof opts.token !== 'function') {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      'CA client: no token (a string, or a function such as tokenFromFile(path))',
      { hint: 'agents authenticate with their service-account token or a node token' },
    );
  }
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    if (!opts.serverIdentity) return undefined;
    const uris = urisOfSubjectAltName(cert.subjectaltname);
    return uris.includes(opts.serverIdentity)
      ? undefined
      : new Error(`the CA server presented ${uris.join(', ') || 'no URI SAN'}, expected ${opts.serverIdentity}`);
  };
  const credentials = grpc.credentials.createSsl(Buffer.from(opts.rootsPem), null, null, { checkServerIdentity });
  const Service = certificateService();
  // After a controller outage, gRPC's default reconnect back-off grows to 120 s and calls fail
  // fast meanwhile: new pods would get no certificate long after the CA is back. Cap it. (Not
  // waitForReady: a controller with the wrong identity must fail with that reason, at once.)
  const client = new Service(opts.address, credentials, {
    'grpc.initial_reconnect_backoff_ms': 500,
    'grpc.max_reconnect_backoff_ms': 3_000,
  });
  const create = (client as unknown as { CreateCertificate: CreateCertificate }).CreateCertificate.bind(client);
  const timeoutMs = opts.timeoutMs ?? 10_000;

  return {
    async sign(req) {
      const token = typeof opts.token === 'string' ? opts.token : await opts.token();
      const md = new grpc.Metadata();
      md.set(CA_METADATA.authorization, `Bearer ${token}`);
      if (opts.nodeName) md.set(CA_METADATA.nodeName, opts.nodeName);
      const response = await new Promise<CertificateResponseMessage>((resolve, reject) => {
        create(
          { csr: req.csrPem, validityDuration: String(Math.round(req.ttlSeconds)) },
          md,
          { deadline: Date.now() + timeoutMs },
          (err, res) => {
            if (err) reject(callError(err, opts.address, req.identity));
            else if (!res)
              reject(
                new AmbitError('AMBIT_E_CA', `the CA at ${opts.address} sent an empty response`, {
                  hint: 'check the controller logs',
                }),
              );
            else resolve(res);
          },
        );
      });
      return chainFromResponse(response.certChain, req.identity, opts.address);
    },
    close: () => client.close(),
  };
}

/** Istio's shape: leaf, intermediates…, then the trust bundle last. */
function chainFromResponse(
  certChain: readonly string[],
  identity: string,
  address: string,
): { certChainPem: string; rootsPem: string } {
  if (certChain.length < 2)
    throw new AmbitError(
      'AMBIT_E_CA',
      `the CA at ${address} returned ${certChain.length} PEM element(s), expected a chain and a trust bundle`,
      { hint: 'is the server an Ambit controller?' },
    );
  const rootsPem = certChain[certChain.length - 1] as string;
  const certChainPem = certChain.slice(0, -1).join('');
  let got: string | undefined;
  try {
    got = identityOfCertificatePem(certChain[0] as string);
  } catch (err) {
    throw new AmbitError(
      'AMBIT_E_CA',
      `the CA at ${address} returned a malformed certificate: ${(err as Error).message}`,
      { hint: 'the controller is misbehaving; check its logs', cause: err },
    );
  }
  if (got !== identity) {
    throw new AmbitError(
      'AMBIT_E_CA',
      `the CA at ${address} returned a certificate for ${got ?? 'no identity'}, asked for ${identity}`,
      { hint: 'the controller is misbehaving; check its logs' },
    );
  }
  return { certChainPem, rootsPem };
}

function callError(err: grpc.ServiceError, address: string, identity: string): AmbitError {
  const hints: Partial<Record<grpc.status, string>> = {
    [grpc.status.UNAUTHENTICATED]: 'check the token (service-account token in Kubernetes, node token file otherwise)',
    [grpc.status.PERMISSION_DENIED]: 'the controller signs only identities of pods scheduled on this node',
    [grpc.status.INVALID_ARGUMENT]: 'the CSR was refused; see the message',
    [grpc.status.UNAVAILABLE]:
      'is the controller running and reachable, and does it present a certificate from the configured root?',
    [grpc.status.DEADLINE_EXCEEDED]: 'the controller did not answer in time',
  };
  return new AmbitError(
    'AMBIT_E_CA',
    `certificate request for ${identity} to ${address} failed: ` +
      `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`,
    {
      hint: hints[err.code as grpc.status] ?? 'check the controller logs',
      cause: err,
    },
  );
}
