// The few Kubernetes writes the waypoint reconciler needs (get/list/create/replace/delete of
// ServiceAccounts, Services, Deployments and the template ConfigMap), as an interface so the
// reconciler can be driven by any client, and one implementation over plain REST with the
// connection settings (server, TLS, credentials) of a @kubernetes/client-node KubeConfig.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../../core/errors.js';
import type { Manifest } from './desired.js';

export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface WaypointKubeClient {
  /** undefined when the object does not exist. */
  get(ref: ObjectRef): Promise<Manifest | undefined>;
  /** Objects of a kind in every namespace matching a label selector (`k=v,k2=v2`). */
  list(apiVersion: string, kind: string, labelSelector: string): Promise<Manifest[]>;
  create(obj: Manifest): Promise<void>;
  /** PUT: the object must carry the current metadata.resourceVersion. */
  replace(obj: Manifest): Promise<void>;
  /** Background propagation; an object already gone is not an error. */
  delete(ref: ObjectRef): Promise<void>;
}

/** An HTTP error status from the API server. */
export class KubeWriteError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeWriteError';
  }
}

const PLURALS: Readonly<Record<string, string>> = {
  ServiceAccount: 'serviceaccounts',
  Service: 'services',
  Deployment: 'deployments',
  ConfigMap: 'configmaps',
  // the controller's leader election (controller/leader)
  Lease: 'leases',
};

function collection(apiVersion: string, kind: string, namespace?: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new AmbitError('AMBIT_E_INTERNAL', `waypoint client: kind ${kind} is not supported`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${base}/${plural}`;
}

const objectPath = (r: ObjectRef): string =>
  `${collection(r.apiVersion, r.kind, r.namespace)}/${encodeURIComponent(r.name)}`;

export function refOf(m: Manifest): ObjectRef {
  return { apiVersion: m.apiVersion, kind: m.kind, namespace: m.metadata.namespace ?? '', name: m.metadata.name };
}

/** REST implementation over a KubeConfig (in-cluster or KUBECONFIG). */
export function restWaypointClient(kc: KubeConfig): WaypointKubeClient {
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new AmbitError('AMBIT_E_CONFIG', 'kubeconfig has no current cluster', {
        hint: 'set KUBECONFIG or run in a pod',
      });
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const opts: https.RequestOptions = {
      method,
      headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
    };
    await kc.applyToHTTPSOptions(opts);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }
  const fail = (method: string, path: string, r: { status: number; text: string }): KubeWriteError => {
    let message = r.text.slice(0, 300);
    try {
      message = String((JSON.parse(r.text) as { message?: unknown }).message ?? message);
    } catch {
      /* not JSON */
    }
    return new KubeWriteError(r.status, `${method} ${path}: ${r.status} ${message}`);
  };
  return {
    async get(ref) {
      const path = objectPath(ref);
      const r = await call('GET', path);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw fail('GET', path, r);
      return { ...(JSON.parse(r.text) as Manifest), apiVersion: ref.apiVersion, kind: ref.kind };
    },
    async list(apiVersion, kind, labelSelector) {
      const path = `${collection(apiVersion, kind)}?labelSelector=${encodeURIComponent(labelSelector)}`;
      const r = await call('GET', path);
      if (r.status !== 200) throw fail('GET', path, r);
      const items = (JSON.parse(r.text) as { items?: Array<Omit<Manifest, 'apiVersion' | 'kind'>> }).items ?? [];
      // list items of built-in kinds come without kind/apiVersion
      return items.map((i) => ({ ...i, apiVersion, kind }) as Manifest);
    },
    async create(obj) {
      const path = collection(obj.apiVersion, obj.kind, obj.metadata.namespace);
      const r = await call('POST', path, obj);
      if (r.status !== 200 && r.status !== 201 && r.status !== 202) throw fail('POST', path, r);
    },
    async replace(obj) {
      const path = objectPath(refOf(obj));
      const r = await call('PUT', path, obj);
      if (r.status !== 200 && r.status !== 201) throw fail('PUT', path, r);
    },
    async delete(ref) {
      const path = objectPath(ref);
      const r = await call('DELETE', path, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
      });
      if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw fail('DELETE', path, r);
    },
  };
}
