// Istio's plugged-in CA layout (the `cacerts` secret, as files in one directory):
//   ca-cert.pem    the signing certificate (an intermediate, or the root itself)
//   ca-key.pem     its private key
//   root-cert.pem  the root(s) workloads trust
//   cert-chain.pem the signing certificate's chain (ca-cert, intermediates, root)

import { createPrivateKey, createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError } from '../errors.js';
import { isSelfSigned, notAfterOf, parseCertificates } from './x509.js';

export const CA_FILES = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  root: 'root-cert.pem',
  chain: 'cert-chain.pem',
} as const;

export interface LoadedCa {
  signingCert: X509Certificate;
  signingKey: KeyObject;
  /** ca-cert first, then its chain (PEM) */
  chainPem: string;
  rootsPem: string;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AmbitError('AMBIT_E_CA', `cannot read ${path}: ${(err as Error).message}`, {
      hint: 'check the permissions of the CA directory',
      cause: err,
    });
  }
}

function caError(message: string, hint: string, cause?: unknown): AmbitError {
  return new AmbitError('AMBIT_E_CA', message, { hint, ...(cause === undefined ? {} : { cause }) });
}

function certsOf(text: string, path: string): X509Certificate[] {
  let certs: X509Certificate[];
  try {
    certs = parseCertificates(text);
  } catch (err) {
    throw caError(`${path} holds a certificate that cannot be parsed`, 'replace it with a valid PEM certificate', err);
  }
  if (certs.length === 0)
    throw caError(`${path} holds no PEM certificate`, 'expected -----BEGIN CERTIFICATE----- blocks');
  return certs;
}

/** The four PEM texts of the layout, by file name (a directory, or a Secret's data keys). */
export type CaMaterial = Partial<Record<(typeof CA_FILES)[keyof typeof CA_FILES], string>>;

/** Where CA material is kept: a directory (file mode) or a Kubernetes Secret (kube mode). */
export interface CaMaterialStore {
  /** undefined when nothing is stored yet */
  load(): Promise<CaMaterial | undefined>;
  /** Store a generated CA; 'exists' when another writer stored one first (then load that). */
  save(material: Required<CaMaterial>): Promise<'saved' | 'exists'>;
  /** How to name an entry in messages, e.g. "/etc/ambit/ca/ca-key.pem" or "Secret ambit-system/ambit-ca key ca-key.pem". */
  describe(file: string): string;
}

/** Istio's layout in a directory; a generated CA is written with ca-cert.pem last (it marks completion). */
export function directoryCaStore(dir: string): CaMaterialStore {
  const path = (f: string): string => join(dir, f);
  return {
    describe: path,
    async load() {
      const [cert, key, root, chain] = await Promise.all(
        [CA_FILES.cert, CA_FILES.key, CA_FILES.root, CA_FILES.chain].map((f) => readOptional(path(f))),
      );
      if ([cert, key, root, chain].every((t) => t === undefined)) return undefined;
      const material: CaMaterial = {};
      if (cert !== undefined) material[CA_FILES.cert] = cert;
      if (key !== undefined) material[CA_FILES.key] = key;
      if (root !== undefined) material[CA_FILES.root] = root;
      if (chain !== undefined) material[CA_FILES.chain] = chain;
      return material;
    },
    async save(material) {
      await persistCaFiles(dir, { certPem: material[CA_FILES.cert], keyPem: material[CA_FILES.key] });
      return 'saved';
    },
  };
}

/** Validate stored material: undefined when it holds no CA at all; throws AMBIT_E_CA when it is incomplete or inconsistent. */
export function caFromMaterial(material: CaMaterial, describe: (file: string) => string): LoadedCa | undefined {
  const certText = material[CA_FILES.cert];
  const keyText = material[CA_FILES.key];
  const rootText = material[CA_FILES.root];
  const chainText = material[CA_FILES.chain];
  const where = describe('') || 'the CA store';
  if (certText === undefined && keyText === undefined) {
    if (rootText !== undefined || chainText !== undefined) {
      throw caError(
        `${where} has ${rootText !== undefined ? CA_FILES.root : CA_FILES.chain} but no ${CA_FILES.cert}/${CA_FILES.key}`,
        'plug in all of ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem, or remove them to let Ambit generate a root',
      );
    }
    return undefined;
  }
  if (certText === undefined)
    throw caError(
      `${describe(CA_FILES.cert)} is missing (${CA_FILES.key} is present)`,
      'the signing certificate and its key go together',
    );
  if (keyText === undefined)
    throw caError(
      `${describe(CA_FILES.key)} is missing (${CA_FILES.cert} is present)`,
      'the signing certificate and its key go together',
    );

  const [signingCert] = certsOf(certText, describe(CA_FILES.cert));
  if (!signingCert) throw caError(`${describe(CA_FILES.cert)} holds no certificate`, 'expected a PEM certificate');
  let signingKey: KeyObject;
  try {
    signingKey = createPrivateKey(keyText);
  } catch (err) {
    throw caError(
      `${describe(CA_FILES.key)} is not a readable private key`,
      'expected a PEM (PKCS#8, SEC1 or PKCS#1) key without a passphrase',
      err,
    );
  }
  const spki = (k: KeyObject): Buffer =>
    (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' });
  if (!spki(signingKey).equals(spki(signingCert.publicKey))) {
    throw caError(
      `${describe(CA_FILES.key)} does not match the public key of ${describe(CA_FILES.cert)}`,
      'plug in the key that belongs to ca-cert.pem',
    );
  }
  if (!signingCert.ca)
    throw caError(
      `${describe(CA_FILES.cert)} is not a CA certificate (basicConstraints CA:false)`,
      'plug in an intermediate or root CA certificate',
    );
  if (notAfterOf(signingCert).getTime() <= Date.now())
    throw caError(`${describe(CA_FILES.cert)} expired at ${signingCert.validTo}`, 'plug in a renewed CA certificate');

  let roots: X509Certificate[];
  if (rootText !== undefined && rootText.trim() !== '') roots = certsOf(rootText, describe(CA_FILES.root));
  else if (isSelfSigned(signingCert)) roots = [signingCert];
  else
    throw caError(
      `${describe(CA_FILES.root)} is missing and ${CA_FILES.cert} is not self-signed`,
      'plug in the root certificate',
    );

  let chain =
    chainText !== undefined && chainText.trim() !== '' ? certsOf(chainText, describe(CA_FILES.chain)) : [signingCert];
  if (!chain[0]?.raw.equals(signingCert.raw)) chain = [signingCert, ...chain];
  verifyChain(chain, roots, describe);
  return {
    signingCert,
    signingKey,
    chainPem: chain.map((c) => c.toString()).join(''),
    rootsPem: roots.map((c) => c.toString()).join(''),
  };
}

/** Each certificate of the chain is issued by the next; the last one by (or is) a root. */
function verifyChain(chain: X509Certificate[], roots: X509Certificate[], describe: (file: string) => string): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i];
    const parent = chain[i + 1];
    if (child && parent && !(child.checkIssued(parent) && child.verify(parent.publicKey))) {
      throw caError(
        `${describe(CA_FILES.chain)}: certificate ${i} (${child.subject.replace(/\n/g, ', ')}) is not issued by certificate ${i + 1}`,
        'order cert-chain.pem from the signing certificate up to the root',
      );
    }
  }
  const top = chain[chain.length - 1];
  if (!top) return;
  const anchored = roots.some(
    (root) => root.raw.equals(top.raw) || (top.checkIssued(root) && top.verify(root.publicKey)),
  );
  if (!anchored)
    throw caError(
      `the chain of ${describe(CA_FILES.cert)} does not lead to a certificate of ${CA_FILES.root}`,
      'root-cert.pem must hold the root that issued the chain',
    );
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}

async function persistCaFiles(dir: string, ca: { certPem: string; keyPem: string }): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(join(dir, CA_FILES.root), ca.certPem, 0o644);
    await writeAtomic(join(dir, CA_FILES.chain), ca.certPem, 0o644);
    await writeAtomic(join(dir, CA_FILES.key), ca.keyPem, 0o600);
    await writeAtomic(join(dir, CA_FILES.cert), ca.certPem, 0o644);
  } catch (err) {
    throw caError(
      `cannot persist the CA to ${dir}: ${(err as Error).message}`,
      'the controller needs a writable CA directory (or plug in cacerts)',
      err,
    );
  }
}
