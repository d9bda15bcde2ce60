// Kube mode: the CA's root and key live in a Secret so that every controller replica and
// every restart signs with the same root. A plugged-in CA (Istio's `cacerts` Secret layout)
// wins; else `ambit-ca`; else a new root is generated and stored as `ambit-ca`.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { CA_FILES } from '../../core/identity/ca-files.js';
import type { Logger } from '../../core/log.js';
import { KubeApiError, type KubeApi } from '../sources/kube-api.js';

export const PLUGGED_CA_SECRET = 'cacerts';
export const CA_SECRET = 'ambit-ca';

interface Secret {
  data?: Record<string, string>;
}

const secretPath = (ns: string, name?: string): string => `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;

/** Writes a Secret's CA files into `dir` (0600); returns false when it holds no CA key. */
async function materialise(secret: Secret, dir: string): Promise<boolean> {
  const data = secret.data ?? {};
  if (!data[CA_FILES.cert] || !data[CA_FILES.key]) return false;
  await mkdir(dir, { recursive: true });
  for (const file of Object.values(CA_FILES)) {
    const value = data[file];
    const target = path.join(dir, file);
    if (!value) {
      await rm(target, { force: true });
      continue;
    } // no stale file from another CA
    await writeFile(target, Buffer.from(value, 'base64'), { mode: 0o600 });
    await chmod(target, 0o600);
  }
  return true;
}

export async function loadOrCreateCaFromSecrets(opts: {
  api: KubeApi;
  namespace: string;
  dir: string;
  trustDomain: string;
  log: Logger;
}): Promise<CertificateAuthority> {
  const { api, namespace, dir, trustDomain, log } = opts;
  for (const name of [PLUGGED_CA_SECRET, CA_SECRET]) {
    const secret = await api.get<Secret>(secretPath(namespace, name));
    if (secret && (await materialise(secret, dir))) {
      log.info('CA loaded from secret', { secret: `${namespace}/${name}` });
      return CertificateAuthority.loadOrCreate(dir, { trustDomain });
    }
  }
  const ca = await CertificateAuthority.loadOrCreate(dir, { trustDomain });
  const data: Record<string, string> = {};
  for (const file of Object.values(CA_FILES)) {
    try {
      data[file] = (await readFile(path.join(dir, file))).toString('base64');
    } catch {
      /* optional file */
    }
  }
  try {
    await api.create(secretPath(namespace), {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: CA_SECRET, namespace },
      data,
    });
    log.info('CA generated and stored', { secret: `${namespace}/${CA_SECRET}` });
    return ca;
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    // Another replica stored its root first: use that one.
    const winner = await api.get<Secret>(secretPath(namespace, CA_SECRET));
    if (!winner || !(await materialise(winner, dir))) throw err;
    log.info('CA loaded from secret (another replica created it)', { secret: `${namespace}/${CA_SECRET}` });
    return CertificateAuthority.loadOrCreate(dir, { trustDomain });
  }
}
