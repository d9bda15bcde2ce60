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

export const CA_FILES = { cert: 'ca-cert.pem', key: 'ca-key.pem', root: 'root-cert.pem', chain: 'cert-chain.pem' } as const;

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
    throw new AmbitError('AMBIT_E_CA', `cannot read ${path}: ${(err as Error).message}`, { hint: 'check the permissions of the CA directory', cause: err });
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
  if (certs.length === 0) throw caError(`${path} holds no PEM certificate`, 'expected -----BEGIN CERTIFICATE----- blocks');
  return certs;
}

/** The CA in `dir`, undefined when the directory has none of it yet. Throws AMBIT_E_CA when it is incomplete or inconsistent. */
export async function loadCaFiles(dir: string): Promise<LoadedCa | undefined> {
  const path = (f: string): string => join(dir, f);
  const [certText, keyText, rootText, chainText] = await Promise.all(
    [CA_FILES.cert, CA_FILES.key, CA_FILES.root, CA_FILES.chain].map((f) => readOptional(path(f))));
  if (certText === undefined && keyText === undefined) {
    if (rootText !== undefined || chainText !== undefined) {
      throw caError(`${dir} has ${rootText !== undefined ? CA_FILES.root : CA_FILES.chain} but no ${CA_FILES.cert}/${CA_FILES.key}`, 'plug in all of ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem, or remove them to let Ambit generate a root');
    }
    return undefined;
  }
  if (certText === undefined) throw caError(`${path(CA_FILES.cert)} is missing (${CA_FILES.key} is present)`, 'the signing certificate and its key go together');
  if (keyText === undefined) throw caError(`${path(CA_FILES.key)} is missing (${CA_FILES.cert} is present)`, 'the signing certificate and its key go together');

  const [signingCert] = certsOf(certText, path(CA_FILES.cert));
  if (!signingCert) throw caError(`${path(CA_FILES.cert)} holds no certificate`, 'expected a PEM certificate');
  let signingKey: KeyObject;
  try {
    signingKey = createPrivateKey(keyText);
  } catch (err) {
    throw caError(`${path(CA_FILES.key)} is not a readable private key`, 'expected a PEM (PKCS#8, SEC1 or PKCS#1) key without a passphrase', err);
  }
  const spki = (k: KeyObject): Buffer => (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' });
  if (!spki(signingKey).equals(spki(signingCert.publicKey))) {
    throw caError(`${path(CA_FILES.key)} does not match the public key of ${path(CA_FILES.cert)}`, 'plug in the key that belongs to ca-cert.pem');
  }
  if (!signingCert.ca) throw caError(`${path(CA_FILES.cert)} is not a CA certificate (basicConstraints CA:false)`, 'plug in an intermediate or root CA certificate');
  if (notAfterOf(signingCert).getTime() <= Date.now()) throw caError(`${path(CA_FILES.cert)} expired at ${signingCert.validTo}`, 'plug in a renewed CA certificate');

  let roots: X509Certificate[];
  if (rootText !== undefined) roots = certsOf(rootText, path(CA_FILES.root));
  else if (isSelfSigned(signingCert)) roots = [signingCert];
  else throw caError(`${path(CA_FILES.root)} is missing and ${CA_FILES.cert} is not self-signed`, 'plug in the root certificate');

  let chain = chainText !== undefined && chainText.trim() !== '' ? certsOf(chainText, path(CA_FILES.chain)) : [signingCert];
  if (!chain[0]?.raw.equals(signingCert.raw)) chain = [signingCert, ...chain];
  verifyChain(chain, roots, dir);
  return { signingCert, signingKey, chainPem: chain.map((c) => c.toString()).join(''), rootsPem: roots.map((c) => c.toString()).join('') };
}

/** Each certificate of the chain is issued by the next; the last one by (or is) a root. */
function verifyChain(chain: X509Certificate[], roots: X509Certificate[], dir: string): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i];
    const parent = chain[i + 1];
    if (child && parent && !(child.checkIssued(parent) && child.verify(parent.publicKey))) {
      throw caError(`${join(dir, CA_FILES.chain)}: certificate ${i} (${child.subject.replace(/\n/g, ', ')}) is not issued by certificate ${i + 1}`, 'order cert-chain.pem from the signing certificate up to the root');
    }
  }
  const top = chain[chain.length - 1];
  if (!top) return;
  const anchored = roots.some((root) => root.raw.equals(top.raw) || (top.checkIssued(root) && top.verify(root.publicKey)));
  if (!anchored) throw caError(`the chain of ${join(dir, CA_FILES.cert)} does not lead to a certificate of ${CA_FILES.root}`, 'root-cert.pem must hold the root that issued the chain');
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}

/** Persist a generated self-signed root in the same layout (ca-cert.pem last: it marks completion). */
export async function persistCaFiles(dir: string, ca: { certPem: string; keyPem: string }): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(join(dir, CA_FILES.root), ca.certPem, 0o644);
    await writeAtomic(join(dir, CA_FILES.chain), ca.certPem, 0o644);
    await writeAtomic(join(dir, CA_FILES.key), ca.keyPem, 0o600);
    await writeAtomic(join(dir, CA_FILES.cert), ca.certPem, 0o644);
  } catch (err) {
    throw caError(`cannot persist the CA to ${dir}: ${(err as Error).message}`, 'the controller needs a writable CA directory (or plug in cacerts)', err);
  }
}
