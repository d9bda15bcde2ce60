// Workload keys (ECDSA P-256) and PKCS#10 certificate signing requests carrying one URI SAN.

import { createPrivateKey, createPublicKey, generateKeyPair, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { AmbitError } from '../errors.js';
import { bitStringBytes, children, decode, decodeOid, explicit, integer, oid, sequence, setOf, type DerNode } from './der.js';
import { name, OID, pemBlocks, signStructure, toPem, uriSanExtension } from './x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface WorkloadKey {
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM */
  readonly keyPem: string;
}

export async function generateWorkloadKey(): Promise<WorkloadKey> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** A CSR with an empty subject and `identity` as its only SAN (what Istio's agents send). */
export function createCsr(identity: string, key: KeyObject | string): string {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const extensionRequest = sequence(oid(OID.extensionRequest), setOf(sequence(uriSanExtension([identity]))));
  const info = sequence(integer(0), name({}), spki, implicitSet(0, extensionRequest));
  return toPem('CERTIFICATE REQUEST', signStructure(info, privateKey));
}

function implicitSet(n: number, ...items: Buffer[]): Buffer {
  const encoded = explicit(n, Buffer.concat(items)); // [n] IMPLICIT SET OF: same bytes as a constructed [n]
  return encoded;
}

export interface ParsedCsr {
  readonly publicKey: KeyObject;
  readonly spkiDer: Buffer;
  /** every URI SAN, in order */
  readonly uris: readonly string[];
  /** SAN entries that are not URIs (DNS, IP, email…), as "tag:value" */
  readonly otherSans: readonly string[];
}

function csrError(message: string, hint: string, cause?: unknown): AmbitError {
  return new AmbitError('AMBIT_E_CSR', message, { hint, ...(cause === undefined ? {} : { cause }) });
}

const DIGEST_OF: Record<string, 'sha256' | 'sha384'> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.sha256WithRsa]: 'sha256',
};

/** Parse a PEM CSR and check its self-signature. Throws AMBIT_E_CSR. */
export function parseCsr(csrPem: string): ParsedCsr {
  const [block] = pemBlocks(csrPem, 'CERTIFICATE REQUEST');
  if (!block) throw csrError('no "CERTIFICATE REQUEST" PEM block in the CSR', 'send a PKCS#10 CSR in PEM form');
  let top: DerNode[];
  let info: DerNode[];
  try {
    const der = Buffer.from(block.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    top = children(decode(der, 'CSR'), 'CSR');
    info = top[0] ? children(top[0], 'CSR') : [];
  } catch (err) {
    throw csrError('the CSR is not valid DER', 'regenerate the CSR', err);
  }
  const [infoNode, algNode, sigNode] = top;
  const spkiNode = info[2];
  if (!infoNode || !algNode || !sigNode || !spkiNode) throw csrError('the CSR is missing fields', 'regenerate the CSR');

  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spkiNode.raw, format: 'der', type: 'spki' });
  } catch (err) {
    throw csrError('the CSR public key cannot be read', 'use an ECDSA P-256 or RSA key', err);
  }
  const algOid = children(algNode)[0];
  const digest = algOid ? DIGEST_OF[decodeOid(algOid)] : undefined;
  if (!digest) throw csrError(`unsupported CSR signature algorithm ${algOid ? decodeOid(algOid) : '?'}`, 'sign the CSR with ecdsa-with-SHA256 or sha256WithRSAEncryption');
  if (!verify(digest, infoNode.raw, publicKey, bitStringBytes(sigNode))) {
    throw csrError('the CSR signature does not verify', 'the CSR was altered or signed with a different key than the one it carries');
  }
  const { uris, otherSans } = sansOf(info[3]);
  return { publicKey, spkiDer: Buffer.from(spkiNode.raw), uris, otherSans };
}

function sansOf(attributes: DerNode | undefined): { uris: string[]; otherSans: string[] } {
  const uris: string[] = [];
  const otherSans: string[] = [];
  if (!attributes || attributes.tag !== 0xa0) return { uris, otherSans };
  for (const attribute of children(attributes)) {
    const [type, values] = children(attribute);
    if (!type || !values || decodeOid(type) !== OID.extensionRequest) continue;
    for (const extensions of children(values)) {
      for (const ext of children(extensions)) {
        const parts = children(ext);
        const id = parts[0];
        const value = parts[parts.length - 1];
        if (!id || !value || decodeOid(id) !== OID.subjectAltName) continue;
        for (const general of children(decode(value.content, 'SAN'))) {
          if (general.tag === 0x86) uris.push(general.content.toString('ascii'));
          else otherSans.push(`[${general.tag & 0x1f}]:${general.content.toString('latin1')}`);
        }
      }
    }
  }
  return { uris, otherSans };
}
