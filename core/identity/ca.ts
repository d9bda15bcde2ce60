// The certificate authority: a signing certificate + key (a self-signed root, or an
// intermediate plugged in with Istio's cacerts layout) that turns CSRs into SPIFFE leaves.

import { createPublicKey, generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { AmbitError } from '../errors.js';
import type { CaClient, Credentials } from './types.js';
import { parseSpiffeId, validateTrustDomain } from './spiffe.js';
import { createCsr, generateWorkloadKey, parseCsr, type ParsedCsr } from './csr.js';
import {
  buildCertificate,
  buildCertificateAsync,
  certificateParts,
  isSelfSigned,
  name,
  notAfterOf,
  notBeforeOf,
  parseCertificates,
} from './x509.js';
import { CA_FILES, caFromMaterial, directoryCaStore, type CaMaterialStore } from './ca-files.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export const DEFAULT_TTL_SECONDS = 24 * 3600;
/** Longest leaf lifetime the CA grants (Istio's default max is 90 days). */
export const MAX_TTL_SECONDS = 90 * 24 * 3600;
const ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;
/** Leaves start a little in the past so a peer with a slow clock accepts them. */
const MAX_BACKDATE_SECONDS = 60;

export interface SignRequest {
  csrPem: string;
  identity: string;
  ttlSeconds: number;
  /** `csrPem` already parsed and verified by the caller (the CA service): not parsed again. */
  csr?: ParsedCsr;
}

/** What the CA returns: the PEM strings in the shapes callers send on, so none re-parses them. */
export interface SignedCertificate {
  /** Leaf then intermediates, PEM. */
  certChainPem: string;
  rootsPem: string;
  /** The same chain, one PEM per certificate, leaf first. */
  chainPems: readonly string[];
  notAfter: Date;
}
export interface IssueOptions {
  ttlSeconds?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  /** The trust bundle handed to workloads (one or more roots). */
  readonly rootsPem: string;
  /** The lifetime given when a caller asks for none (the CA service's validity_duration 0). */
  readonly defaultTtlSeconds = DEFAULT_TTL_SECONDS;
  /** The signing certificate followed by its chain up to (not including) the root; PEM. */
  private readonly intermediatesPem: string;
  private readonly intermediatePems: readonly string[];
  private readonly signingCert: X509Certificate;
  private readonly signingKey: KeyObject;
  private readonly issuerName: Buffer;
  private readonly issuerKeyId: Buffer;

  private constructor(opts: {
    trustDomain: string;
    signingCert: X509Certificate;
    signingKey: KeyObject;
    chainPem: string;
    rootsPem: string;
  }) {
    validateTrustDomain(opts.trustDomain);
    this.trustDomain = opts.trustDomain;
    this.signingCert = opts.signingCert;
    this.signingKey = opts.signingKey;
    this.rootsPem = opts.rootsPem;
    // Leaves carry the intermediates, never a self-signed root (it is in the bundle).
    this.intermediatePems = parseCertificates(opts.chainPem)
      .filter((c) => !isSelfSigned(c))
      .map((c) => c.toString());
    this.intermediatesPem = this.intermediatePems.join('');
    const parts = certificateParts(opts.signingCert);
    this.issuerName = parts.subject;
    this.issuerKeyId = parts.subjectKeyId;
  }

  /** A fresh self-signed ECDSA P-256 root held in memory. */
  static async create(opts: { trustDomain?: string } = {}): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? 'cluster.local';
    validateTrustDomain(trustDomain);
    const { root, key } = await generateRoot(trustDomain);
    return new CertificateAuthority({
      trustDomain,
      signingCert: root,
      signingKey: key,
      chainPem: '',
      rootsPem: root.toString(),
    });
  }

  /**
   * Istio's cacerts layout in `dir` (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)
   * when present; otherwise a new root, written there for the next start.
   */
  static async loadOrCreate(dir: string, opts: { trustDomain?: string } = {}): Promise<CertificateAuthority> {
    return CertificateAuthority.loadOrCreateFrom(directoryCaStore(dir), opts);
  }

  /** The same from any store (a directory, a Kubernetes Secret); a lost creation race loads the winner's CA. */
  static async loadOrCreateFrom(
    store: CaMaterialStore,
    opts: { trustDomain?: string } = {},
  ): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? 'cluster.local';
    validateTrustDomain(trustDomain);
    const existing = await CertificateAuthority.loadFrom(store, { trustDomain });
    if (existing) return existing;
    const { root, key } = await generateRoot(trustDomain);
    const certPem = root.toString();
    const outcome = await store.save({
      [CA_FILES.cert]: certPem,
      [CA_FILES.key]: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      [CA_FILES.root]: certPem,
      [CA_FILES.chain]: certPem,
    });
    if (outcome === 'exists') {
      const winner = await CertificateAuthority.loadFrom(store, { trustDomain });
      if (winner) return winner;
      throw new AmbitError('AMBIT_E_CA', `${store.describe('')} was reported to exist but holds no CA`, {
        hint: 'delete it to let the controller generate a root',
      });
    }
    return new CertificateAuthority({
      trustDomain,
      signingCert: root,
      signingKey: key,
      chainPem: '',
      rootsPem: certPem,
    });
  }

  /** The CA held by `store`, or undefined when it holds none (throws AMBIT_E_CA when it is inconsistent). */
  static async loadFrom(
    store: CaMaterialStore,
    opts: { trustDomain?: string } = {},
  ): Promise<CertificateAuthority | undefined> {
    const material = await store.load();
    const loaded = material ? caFromMaterial(material, store.describe) : undefined;
    return loaded
      ? new CertificateAuthority({ trustDomain: opts.trustDomain ?? 'cluster.local', ...loaded })
      : undefined;
  }

  /** When the signing certificate expires (leaves never outlive it). */
  get signingNotAfter(): Date {
    return notAfterOf(this.signingCert);
  }

  /** Sign a CSR whose only SAN must be exactly `identity`, in this CA's trust domain. */
  async sign(req: SignRequest): Promise<SignedCertificate> {
    const ttl = req.ttlSeconds;
    if (!Number.isFinite(ttl) || ttl <= 0)
      throw new AmbitError('AMBIT_E_CSR', `requested TTL ${ttl} s is not a positive number`, {
        hint: 'ask for a lifetime in seconds, e.g. 86400',
      });
    const now = Date.now();
    const backdate = Math.min(MAX_BACKDATE_SECONDS, Math.floor(ttl / 10)) * 1000;
    // Certificate times have second precision: round outwards so the lifetime is never short.
    const notBefore = Math.floor((now - backdate) / 1000) * 1000;
    const notAfter = Math.ceil((now + Math.min(ttl, MAX_TTL_SECONDS) * 1000) / 1000) * 1000;
    return this.signWithValidity(req.csr ?? req.csrPem, req.identity, new Date(notBefore), new Date(notAfter));
  }

  /** A new key, CSR and certificate for `identity` (in-process workloads and tests). */
  async issue(identity: string, opts: IssueOptions = {}): Promise<Credentials> {
    const key = await generateWorkloadKey();
    const csrPem = createCsr(identity, key.privateKey);
    let signed: { certChainPem: string; rootsPem: string };
    if (opts.notBefore || opts.notAfter) {
      const notBefore = opts.notBefore ?? new Date();
      const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000);
      signed = await this.signWithValidity(csrPem, identity, notBefore, notAfter);
    } else {
      signed = await this.sign({ csrPem, identity, ttlSeconds: opts.ttlSeconds ?? DEFAULT_TTL_SECONDS });
    }
    return credentialsFrom(identity, key.keyPem, signed);
  }

  asClient(): CaClient {
    return { sign: (req) => this.sign(req) };
  }

  private async signWithValidity(
    csrIn: string | ParsedCsr,
    identity: string,
    notBefore: Date,
    requestedNotAfter: Date,
  ): Promise<SignedCertificate> {
    let id;
    try {
      id = parseSpiffeId(identity);
    } catch (err) {
      throw new AmbitError('AMBIT_E_CSR', `cannot sign for "${identity}": ${(err as Error).message}`, {
        hint: 'the identity must be spiffe://<td>/ns/<ns>/sa/<sa>',
        cause: err,
      });
    }
    if (id.trustDomain !== this.trustDomain) {
      throw new AmbitError(
        'AMBIT_E_CSR',
        `identity ${identity} is in trust domain "${id.trustDomain}", this CA signs only for "${this.trustDomain}"`,
        { hint: 'check the trust domain configured on the agent and on the controller' },
      );
    }
    const csr = typeof csrIn === 'string' ? parseCsr(csrIn) : csrIn;
    if (csr.uris.length !== 1 || csr.uris[0] !== identity || csr.otherSans.length > 0) {
      const got = [...csr.uris, ...csr.otherSans].join(', ') || 'no SAN';
      throw new AmbitError('AMBIT_E_CSR', `CSR subject alternative names (${got}) are not exactly ${identity}`, {
        hint: 'the CSR must carry the requested identity as its only URI SAN',
      });
    }
    const notAfter = new Date(Math.min(requestedNotAfter.getTime(), this.signingNotAfter.getTime()));
    // Signed on libuv's thread pool: the controller's event loop keeps serving meanwhile.
    const leaf = await buildCertificateAsync(
      {
        subject: name({}),
        issuer: this.issuerName,
        spkiDer: csr.spkiDer,
        notBefore,
        notAfter,
        isCa: false,
        uris: [identity],
        authorityKeyId: this.issuerKeyId,
      },
      this.signingKey,
    );
    return {
      certChainPem: leaf + this.intermediatesPem,
      rootsPem: this.rootsPem,
      chainPems: [leaf, ...this.intermediatePems],
      notAfter,
    };
  }
}

export function credentialsFrom(
  identity: string,
  keyPem: string,
  signed: { certChainPem: string; rootsPem: string },
): Credentials {
  const [leaf] = parseCertificates(signed.certChainPem);
  if (!leaf)
    throw new AmbitError('AMBIT_E_CA', `the CA returned no certificate for ${identity}`, { hint: 'check the CA logs' });
  return {
    identity,
    keyPem,
    certChainPem: signed.certChainPem,
    rootsPem: signed.rootsPem,
    notBefore: notBeforeOf(leaf),
    notAfter: notAfterOf(leaf),
  };
}

async function generateRoot(trustDomain: string): Promise<{ root: X509Certificate; key: KeyObject }> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const subject = name({ organization: trustDomain, commonName: 'Ambit root CA' });
  const now = Date.now();
  const root = new X509Certificate(
    buildCertificate(
      {
        subject,
        issuer: subject,
        spkiDer: createPublicKey(privateKey).export({ format: 'der', type: 'spki' }),
        notBefore: new Date(now - MAX_BACKDATE_SECONDS * 1000),
        notAfter: new Date(now + ROOT_TTL_SECONDS * 1000),
        isCa: true,
      },
      privateKey,
    ),
  );
  return { root, key: privateKey };
}
