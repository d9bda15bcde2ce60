// Node readiness, as Istio's CNI node taint (`cni.istio.io/not-ready`): nodes join the cluster
// with the taint `ambit.dev/agent-not-ready:NoSchedule`, so no pod is scheduled there before
// Ambit can capture it. The installer knows both halves of "ready": it has chained ambit-cni
// into the node's conflist, and the agent answers on its enrolment socket. Then it removes
// the taint from ITS OWN node (the node name comes from the downward API). Kubernetes RBAC
// cannot restrict `patch nodes` to one node, so the grant lets the agent's service account
// patch any node; Istio's CNI has the same limit. The installer never exits on failure: it
// retries with backoff and a log line. Like Istio's untaint controller, the taint is only ever
// removed, never added back when the agent later stops answering: a pod scheduled then still
// does not start uncaptured (ambit-cni fails its ADD with "try again later" until the agent
// answers, and the kubelet retries), and a NoSchedule taint would not touch running pods.
import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { enrolmentRequest } from '../../core/enrolment/index.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

export const AGENT_NOT_READY_TAINT = 'ambit.dev/agent-not-ready';

/** Where the API server is and how to authenticate (in a pod: its service account). */
export interface KubeEndpoint {
  readonly url: string;
  readonly token: string;
  /** PEM of the API server's CA (https). */
  readonly ca?: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's service account: KUBERNETES_SERVICE_HOST/PORT and the automounted token and CA. */
export async function inClusterEndpoint(host: string, port: string): Promise<KubeEndpoint> {
  const h = host.includes(':') ? `[${host}]` : host;
  const [token, ca] = await Promise.all([readFile(`${SA_DIR}/token`, 'utf8'), readFile(`${SA_DIR}/ca.crt`, 'utf8')]);
  return { url: `https://${h}:${port}`, token: token.trim(), ca };
}

interface Taint {
  key: string;
  effect?: string;
  value?: string;
}
interface NodeObject {
  metadata: { resourceVersion?: string };
  spec?: { taints?: Taint[] };
}

function call(
  api: KubeEndpoint,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ code: number; text: string }> {
  const url = new URL(api.url.replace(/\/$/, '') + path);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${api.token}` };
  if (payload) headers['content-type'] = 'application/merge-patch+json';
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, ...(api.ca ? { ca: api.ca } : {}), timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Removes the taint `key` from node `node`: GET, then a merge patch of spec.taints without it,
 * carrying the resourceVersion read (a 409 from a concurrent node update is retried).
 */
export async function removeNodeTaint(api: KubeEndpoint, node: string, key: string): Promise<'removed' | 'absent'> {
  const path = `/api/v1/nodes/${encodeURIComponent(node)}`;
  for (let attempt = 0; ; attempt++) {
    const got = await call(api, 'GET', path);
    if (got.code !== 200) throw new Error(`GET node ${node}: HTTP ${got.code} ${got.text.slice(0, 200)}`);
    const current = JSON.parse(got.text) as NodeObject;
    const taints = current.spec?.taints ?? [];
    const kept = taints.filter((t) => t.key !== key);
    if (kept.length === taints.length) return 'absent';
    const patch = { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { taints: kept } };
    const put = await call(api, 'PATCH', path, patch);
    if (put.code === 200) return 'removed';
    if (put.code !== 409 || attempt >= 5)
      throw new Error(`PATCH node ${node}: HTTP ${put.code} ${put.text.slice(0, 200)}`);
  }
}

/** True when the agent answers on its enrolment socket. */
export async function agentServing(socket: string): Promise<boolean> {
  try {
    return (await enrolmentRequest(socket, { op: 'list' }, 2000)).ok;
  } catch {
    return false;
  }
}

export interface UntaintOptions {
  api: () => Promise<KubeEndpoint>;
  node: string;
  key: string;
  agentSocket: string;
  log: Logger;
  signal?: AbortSignal;
  /** First retry delay (doubles up to 30 s). */
  retryMs?: number;
}

/**
 * Called once the plugin is chained: waits for the agent to answer, then removes the taint;
 * retries both with backoff until done or aborted. Resolves with what happened.
 */
export async function untaintWhenAgentReady(o: UntaintOptions): Promise<'removed' | 'absent' | 'aborted'> {
  const first = o.retryMs ?? 500;
  let delay = first;
  let waitingLogged = false;
  while (!o.signal?.aborted) {
    const serving = await agentServing(o.agentSocket);
    if (serving) {
      try {
        const r = await removeNodeTaint(await o.api(), o.node, o.key);
        o.log.info(r === 'removed' ? 'node taint removed' : 'node has no taint to remove', {
          node: o.node,
          taint: o.key,
        });
        return r;
      } catch (err) {
        o.log.warn('cannot remove the node taint; retrying', {
          node: o.node,
          err: describeError(err),
          retryInMs: delay,
        });
      }
    } else if (!waitingLogged) {
      waitingLogged = true;
      o.log.info('waiting for the agent before removing the node taint', { socket: o.agentSocket, node: o.node });
    }
    // A local socket is cheap to ask: no backoff while waiting for the agent, only for API errors.
    await new Promise((resolve) => setTimeout(resolve, serving ? delay : first));
    if (serving) delay = Math.min(delay * 2, 30_000);
  }
  return 'aborted';
}
