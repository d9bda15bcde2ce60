// Kube mode: `credentialName` is a Secret of the gateway's namespace, read from the API
// server with the pod's service-account token (the chart's Role grants get on Secrets in
// the gateway's namespace only). Istio's layouts: `tls.crt`/`tls.key`/`ca.crt` (type
// kubernetes.io/tls) or `cert`/`key`/`cacert` (generic).
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { Logger } from '../../core/log.js';
import type { CredentialReader } from './credentials.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** A Secret larger than this is not read (certificates are a few KiB). */
const MAX_SECRET_BYTES = 1024 * 1024;

function get(url: URL, token: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      { ca, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_SECRET_BYTES) req.destroy(new Error('Secret larger than 1 MiB'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('API server did not answer in 10 s')));
    req.on('error', reject);
  });
}

export function kubeSecretCredentials(o: {
  namespace: string;
  log: Logger;
  /** Tests: the API server's URL and the folder holding `token` and `ca.crt`. */
  apiServer?: string;
  serviceAccountDir?: string;
}): CredentialReader {
  const saDir = o.serviceAccountDir ?? SA_DIR;
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const base = o.apiServer ?? (host ? `https://${host.includes(':') ? `[${host}]` : host}:${port}` : undefined);
  return async (name) => {
    if (!base) throw new Error('kube credentials: KUBERNETES_SERVICE_HOST is not set');
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) return undefined;
    const [token, ca] = await Promise.all([readFile(`${saDir}/token`, 'utf8'), readFile(`${saDir}/ca.crt`, 'utf8')]);
    const url = new URL(
      `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/secrets/${encodeURIComponent(name)}`,
      base,
    );
    const res = await get(url, token.trim(), ca);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`Secret ${o.namespace}/${name}: API server answered ${res.status}`);
    const data = (JSON.parse(res.body) as { data?: Record<string, string> }).data ?? {};
    const field = (...keys: string[]): string | undefined => {
      for (const k of keys) if (typeof data[k] === 'string') return Buffer.from(data[k], 'base64').toString('utf8');
      return undefined;
    };
    const cert = field('tls.crt', 'cert');
    const key = field('tls.key', 'key');
    const caCert = field('ca.crt', 'cacert');
    o.log.debug('gateway credential read', { secret: `${o.namespace}/${name}` });
    return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(caCert ? { ca: caCert } : {}) };
  };
}
