// Workload keys (ECDSA P-256) and PKCS#10 certificate signing requests carrying one URI SAN.

import { createPrivateKey, createPublicKey, generateKeyPair, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { AmbitError, isAmbitError } from '../errors.js';
import {
  bitStringBytes,
  children,
  decode,
  decodeOid,
  explicit,
  integer,
  oid,
  sequence,
  setOf,
  type DerNode,
} from './der.js';
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

/** Signature algorithms accepted on a CSR: digest, and the key type that must have signed it. */
const SIGNATURE_ALGORITHMS: Record<string, { digest: 'sha256' | 'sha384'; keyType: 'ec' | 'rsa' }> = {
  [OID.ecdsaWithSha256]: { digest: 'sha256', keyType: 'ec' },
  [OID.ecdsaWithSha384]: { digest: 'sha384', keyType: 'ec' },
  [OID.sha256WithRsa]: { digest: 'sha256', keyType: 'rsa' },
};

/** A CSR PEM larger than this is refused before decoding (a P-256 CSR is well under 1 KiB). */
export const MAX_CSR_PEM_BYTES = 16 * 1024;
/** RSA keys: at least 2048 bits (NIST), at most 4096 (bounds the cost of verifying). */
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 4096;

const KEY_HINT = 'generate an ECDSA P-256 key (or RSA of 2048 to 4096 bits)';

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';

/**
 * The key of a P-256 SPKI with an uncompressed point, read from the DER here and imported as
 * a JWK: OpenSSL 3's DER decoders cost about twice as much, and the CA does this per request.
 * Undefined for any other SPKI (the caller takes the general path); throws for a point that
 * is not on the curve.
 */
function p256PublicKey(spki: DerNode): KeyObject | undefined {
  const top = children(spki, 'CSR public key');
  const [algorithm, bits] = top;
  if (top.length !== 2 || algorithm?.tag !== 0x30 || bits?.tag !== 0x03) return undefined;
  const ids = children(algorithm, 'CSR public key');
  const [algOid, curveOid] = ids;
  if (ids.length !== 2 || algOid?.tag !== 0x06 || curveOid?.tag !== 0x06) return undefined;
  if (decodeOid(algOid) !== OID_EC_PUBLIC_KEY || decodeOid(curveOid) !== OID_P256) return undefined;
  const point = bits.content; // unused-bits byte, 0x04, X (32 bytes), Y (32 bytes)
  if (point.length !== 66 || point[0] !== 0 || point[1] !== 0x04) return undefined;
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(2, 34).toString('base64url'),
      y: point.subarray(34).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** Workload keys the CA certifies: ECDSA P-256, or RSA of MIN_RSA_BITS..MAX_RSA_BITS. */
export function checkWorkloadKey(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1')
      throw csrError(
        `the CSR key is ECDSA on curve ${curve ?? 'unknown'}; only P-256 (prime256v1) is accepted`,
        KEY_HINT,
      );
    return;
  }
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
      throw csrError(
        `the CSR key is RSA with ${bits} bits; RSA keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`,
        KEY_HINT,
      );
    }
    return;
  }
  throw csrError(`the CSR key type ${type ?? 'unknown'} is not accepted; only ECDSA P-256 or RSA`, KEY_HINT);
}

/** What checking a CSR's self-signature needs. */
interface UnverifiedCsr {
  csr: ParsedCsr;
  digest: 'sha256' | 'sha384';
  signed: Buffer;
  signature: Buffer;
}

const BAD_SIGNATURE = (): AmbitError =>
  csrError(
    'the CSR signature does not verify',
    'the CSR was altered or signed with a different key than the one it carries',
  );
const UNREADABLE_SIGNATURE = (err: unknown): AmbitError =>
  csrError('the CSR signature cannot be read', 'regenerate the CSR', err);

/** Parse a PEM CSR and check its self-signature. Throws AMBIT_E_CSR. */
export function parseCsr(csrPem: string): ParsedCsr {
  const u = readCsr(csrPem);
  let ok: boolean;
  try {
    ok = verify(u.digest, u.signed, u.csr.publicKey, u.signature);
  } catch (err) {
    throw UNREADABLE_SIGNATURE(err);
  }
  if (!ok) throw BAD_SIGNATURE();
  return u.csr;
}

/**
 * parseCsr with the signature checked on libuv's thread pool, off the event loop (the CA
 * service: a busy controller keeps serving discovery while it verifies CSRs).
 */
export async function parseCsrAsync(csrPem: string): Promise<ParsedCsr> {
  const u = readCsr(csrPem);
  const ok = await new Promise<boolean>((resolve, reject) => {
    try {
      verify(u.digest, u.signed, u.csr.publicKey, u.signature, (err, result) =>
        err ? reject(UNREADABLE_SIGNATURE(err)) : resolve(result),
      );
    } catch (err) {
      reject(UNREADABLE_SIGNATURE(err));
    }
  });
  if (!ok) throw BAD_SIGNATURE();
  return u.csr;
}

/** Decode a PEM CSR and check its key and algorithm; the signature is left to the caller. */
function readCsr(csrPem: string): UnverifiedCsr {
  if (typeof csrPem !== 'string' || csrPem.length === 0)
    throw csrError('the request carries no CSR', 'send a PKCS#10 CSR in PEM form');
  if (csrPem.length > MAX_CSR_PEM_BYTES) {
    throw csrError(
      `the CSR is ${csrPem.length} bytes; at most ${MAX_CSR_PEM_BYTES} are accepted`,
      'send one PKCS#10 CSR for an ECDSA P-256 key',
    );
  }
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
  let keyType: string | undefined;
  try {
    const p256 = p256PublicKey(spkiNode);
    if (p256) {
      publicKey = p256;
      keyType = 'ec';
    } else {
      publicKey = createPublicKey({ key: spkiNode.raw, format: 'der', type: 'spki' });
      checkWorkloadKey(publicKey);
      keyType = publicKey.asymmetricKeyType;
    }
  } catch (err) {
    if (isAmbitError(err, 'AMBIT_E_CSR')) throw err;
    throw csrError('the CSR public key cannot be read', KEY_HINT, err);
  }
  let algName: string;
  try {
    const algOid = children(algNode)[0];
    algName = algOid ? decodeOid(algOid) : '?';
  } catch (err) {
    throw csrError('the CSR signature algorithm is not valid DER', 'regenerate the CSR', err);
  }
  const algorithm = SIGNATURE_ALGORITHMS[algName];
  if (!algorithm)
    throw csrError(
      `unsupported CSR signature algorithm ${algName}`,
      'sign the CSR with ecdsa-with-SHA256 or sha256WithRSAEncryption',
    );
  if (algorithm.keyType !== keyType) {
    throw csrError(
      `the CSR signature algorithm ${algName} does not fit its ${keyType ?? 'unknown'} key`,
      'sign the CSR with the key it carries',
    );
  }
  let sans: { uris: string[]; otherSans: string[] };
  try {
    sans = sansOf(info[3]);
  } catch (err) {
    throw csrError('the CSR extension request is not valid DER', 'regenerate the CSR', err);
  }
  const { uris, otherSans } = sans;
  return {
    csr: { publicKey, spkiDer: Buffer.from(spkiNode.raw), uris, otherSans },
    digest: algorithm.digest,
    signed: infoNode.raw,
    signature: bitStringBytes(sigNode),
  };
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
