// The CA service on the controller's gRPC server: CreateCertificate(csr, ttl) → chain, for
// callers that authenticate with a bearer token and may hold the identity they ask for.
// One request: token (cached) → CSR parsed and verified once → node authorisation (an
// index lookup) → signature. Repeated authentication failures from one peer are refused
// without asking the authenticator (see failure-limit.ts).

import * as grpc from '@grpc/grpc-js';
import { AmbitError, describeError, isAmbitError } from '../../core/errors.js';
import { getLogLevel, type Logger } from '../../core/log.js';
import type { CertificateAuthority, SignedCertificate } from '../../core/identity/ca.js';
import { parseCsrAsync, type ParsedCsr } from '../../core/identity/csr.js';
import {
  CA_METADATA,
  certificateService,
  type CertificateRequestMessage,
  type CertificateResponseMessage,
} from '../../core/identity/ca-proto.js';
import { FailureLimiter, peerHost } from './failure-limit.js';

/** Who is calling, as established from its token. */
export type Caller = { kind: 'agent'; node: string } | { kind: 'waypoint'; identity: string };

/**
 * What the service knows about the call besides the token (file mode reads nothing of it;
 * kube mode ignores a claimed node).
 */
export interface CallMetadata {
  nodeName?: string;
  peer?: string;
}

export interface CertificateServiceDeps {
  ca: CertificateAuthority;
  /** Resolve a bearer token to a caller; throw (any error) to refuse with UNAUTHENTICATED. */
  authenticate(token: string, metadata: CallMetadata): Promise<Caller>;
  /** The SPIFFE ids the caller may obtain certificates for (a set: looked up, never scanned). */
  identitiesAllowed(caller: Caller): Promise<ReadonlySet<string>> | ReadonlySet<string>;
  log: Logger;
  /** Failed authentications per peer before it is refused for a while (default: see FailureLimiter). */
  failureLimiter?: FailureLimiter;
  /** Hooks for metrics: a certificate was signed / a request was refused. */
  onIssued?: (e: { identity: string; caller: Caller; notAfter: Date }) => void;
  onRefused?: (e: { code: grpc.status; reason: string }) => void;
}

/** Raised inside the handler; becomes a gRPC status. */
class Refusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export function describeCaller(caller: Caller): string {
  return caller.kind === 'agent' ? `node ${caller.node}` : `waypoint ${caller.identity}`;
}

function bearerToken(metadata: grpc.Metadata): string {
  const [value] = metadata.get(CA_METADATA.authorization);
  const header = typeof value === 'string' ? value : value?.toString('utf8');
  if (!header) throw new Refusal(grpc.status.UNAUTHENTICATED, 'no "authorization: Bearer <token>" metadata');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw new Refusal(grpc.status.UNAUTHENTICATED, 'the authorization metadata is not "Bearer <token>"');
  return match[1];
}

function firstString(metadata: grpc.Metadata, key: string): string | undefined {
  const [value] = metadata.get(key);
  const text = typeof value === 'string' ? value : value?.toString('utf8');
  return text && text.length > 0 ? text : undefined;
}

function refusalMessage(caller: Caller, identity: string): string {
  if (caller.kind === 'agent') {
    return (
      `node ${caller.node} may not obtain certificates for ${identity}: ` +
      `no pod of that service account is scheduled on ${caller.node}`
    );
  }
  return (
    `waypoint ${caller.identity} may not obtain certificates for ${identity}: ` +
    'a waypoint obtains only its own identity'
  );
}

/** The CSR, parsed and its signature verified (off the event loop), and the identity it asks for (its only URI SAN). */
async function parseRequest(csrPem: unknown): Promise<{ csr: ParsedCsr; identity: string }> {
  try {
    const csr = await parseCsrAsync(typeof csrPem === 'string' ? csrPem : '');
    if (csr.uris.length !== 1 || csr.otherSans.length > 0) {
      throw new AmbitError(
        'AMBIT_E_CSR',
        `the CSR must carry exactly one URI SAN (found ${[...csr.uris, ...csr.otherSans].join(', ') || 'none'})`,
        { hint: 'put the SPIFFE id as the only subject alternative name' },
      );
    }
    return { csr, identity: csr.uris[0] as string };
  } catch (err) {
    throw new Refusal(grpc.status.INVALID_ARGUMENT, describeError(err));
  }
}

export function addCertificateService(server: grpc.Server, deps: CertificateServiceDeps): void {
  const log = deps.log.child({ service: 'ca' });
  const limiter = deps.failureLimiter ?? new FailureLimiter();

  async function authenticate(
    call: grpc.ServerUnaryCall<CertificateRequestMessage, CertificateResponseMessage>,
  ): Promise<Caller> {
    const peer = peerHost(call.getPeer());
    const wait = limiter.blockedFor(peer);
    if (wait > 0) {
      throw new Refusal(
        grpc.status.RESOURCE_EXHAUSTED,
        `too many failed authentications from ${peer}; retry in ${Math.ceil(wait / 1000)} s`,
      );
    }
    try {
      const token = bearerToken(call.metadata);
      const nodeName = firstString(call.metadata, CA_METADATA.nodeName);
      return await deps.authenticate(token, { peer, ...(nodeName ? { nodeName } : {}) });
    } catch (err) {
      // The authenticator could not decide (API server unreachable, token file unreadable):
      // the caller retries, and it is not counted against it.
      if (isAmbitError(err, 'AMBIT_E_CA') || isAmbitError(err, 'AMBIT_E_CONFIG')) {
        throw new Refusal(grpc.status.UNAVAILABLE, `cannot check the token now: ${describeError(err)}`);
      }
      limiter.failed(peer);
      if (err instanceof Refusal) throw err;
      throw new Refusal(
        grpc.status.UNAUTHENTICATED,
        `token refused: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  async function handle(
    call: grpc.ServerUnaryCall<CertificateRequestMessage, CertificateResponseMessage>,
  ): Promise<CertificateResponseMessage> {
    // Authentication first: an unknown caller costs a digest, not a signature verification.
    const caller = await authenticate(call);
    const { csr, identity } = await parseRequest(call.request.csr);
    const allowed = await deps.identitiesAllowed(caller);
    if (!allowed.has(identity)) throw new Refusal(grpc.status.PERMISSION_DENIED, refusalMessage(caller, identity));

    const ttlSeconds = Number(call.request.validityDuration) || deps.ca.defaultTtlSeconds;
    let signed: SignedCertificate;
    try {
      signed = await deps.ca.sign({ csrPem: call.request.csr, csr, identity, ttlSeconds });
    } catch (err) {
      if (isAmbitError(err, 'AMBIT_E_CSR')) throw new Refusal(grpc.status.INVALID_ARGUMENT, describeError(err));
      throw err;
    }
    if (getLogLevel() === 'debug') {
      // Per certificate, so debug only: at thousands per second, info lines would cost more than signing.
      log.debug('certificate issued', {
        identity,
        caller: describeCaller(caller),
        notAfter: signed.notAfter.toISOString(),
      });
    }
    deps.onIssued?.({ identity, caller, notAfter: signed.notAfter });
    return { certChain: [...signed.chainPems, signed.rootsPem] };
  }

  server.addService(certificateService().service, {
    CreateCertificate: (
      call: grpc.ServerUnaryCall<CertificateRequestMessage, CertificateResponseMessage>,
      callback: grpc.sendUnaryData<CertificateResponseMessage>,
    ) => {
      handle(call).then(
        (response) => callback(null, response),
        (err: unknown) => {
          const refusal =
            err instanceof Refusal
              ? err
              : new Refusal(grpc.status.INTERNAL, `certificate signing failed: ${describeError(err)}`);
          const level = refusal.code === grpc.status.INTERNAL ? 'error' : 'warn';
          log[level]('certificate request refused', {
            code: grpc.status[refusal.code],
            reason: refusal.message,
            peer: call.getPeer(),
          });
          deps.onRefused?.({ code: refusal.code, reason: refusal.message });
          callback({ code: refusal.code, details: refusal.message });
        },
      );
    },
  });
}

/**
 * identitiesAllowed from a lookup of the service accounts on a node: an agent gets the
 * identities of pods scheduled on its node, a waypoint only its own.
 */
export function identitiesAllowedFrom(
  identitiesOnNode: (node: string) => ReadonlySet<string> | Iterable<string>,
): (caller: Caller) => ReadonlySet<string> {
  return (caller) => {
    if (caller.kind !== 'agent') return new Set([caller.identity]);
    const on = identitiesOnNode(caller.node);
    return on instanceof Set ? on : new Set(on);
  };
}
