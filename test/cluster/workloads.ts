// The application the boot test meshes, created through the API as a user would: namespace
// `shop` (mesh-mode=ambient), an HTTP server on node-b behind Service `server`, and two
// clients on node-a with their own service accounts (`client`, `intruder`). The app
// containers are plain commands (no Ambit image): the server answers every request with a
// JSON echo of the path and its pod name. `plain-a` (node-a) is opted out of the mesh.
import { randomBytes } from 'node:crypto';
import type { FakeObject } from '../support/fake-apiserver.js';
import type { Cluster } from './cluster.js';
import type { RunningPod } from './kubelet.js';

export const APP_NAMESPACE = 'shop';
export const SERVER_PORT = 8080;

const SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pod: process.env.POD_NAME, path: req.url, method: req.method }) + '\\n');
}).listen(${SERVER_PORT}, '0.0.0.0');
`;
const IDLE = 'setInterval(() => undefined, 1 << 30)';

function pod(name: string, sa: string, node: string, labels: Record<string, string>, script: string): FakeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: APP_NAMESPACE, labels },
    spec: {
      nodeName: node,
      serviceAccountName: sa,
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'app',
          image: 'example.com/app:1',
          command: [process.execPath, '-e', script],
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          ports: [{ name: 'http', containerPort: SERVER_PORT }],
        },
      ],
    },
  };
}

/** Create the app's objects through the API (as the cluster admin, with kubectl). */
export async function createApp(cluster: Cluster): Promise<void> {
  const objects: FakeObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NAMESPACE, labels: { 'mesh-mode': 'ambient' } } },
    ...['server', 'client', 'intruder', 'plain'].map((sa) => ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: sa, namespace: APP_NAMESPACE },
    })),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'server', namespace: APP_NAMESPACE },
      spec: {
        selector: { app: 'server' },
        ports: [{ name: 'http', port: 80, targetPort: SERVER_PORT, protocol: 'TCP' }],
      },
    },
    pod('server-b', 'server', 'node-b', { app: 'server' }, SERVER),
    pod('client-a', 'client', 'node-a', { app: 'client' }, IDLE),
    pod('intruder-a', 'intruder', 'node-a', { app: 'intruder' }, IDLE),
    // Opted out of the mesh: its traffic crosses the wire as the app sent it (the capture's control).
    pod('plain-a', 'plain', 'node-a', { app: 'plain', 'mesh-mode': 'none' }, IDLE),
  ];
  for (const o of objects) await cluster.kubectl('POST', o);
}

export interface HttpAnswer {
  status: number;
  body: string;
  error?: string;
}

/** An HTTP GET from inside a pod with curl: the status and body, or why curl failed. */
async function curlFrom(cluster: Cluster, from: RunningPod, host: string, url: string): Promise<HttpAnswer> {
  const r = await cluster.exec(from, ['curl', '-sS', '-m', '5', '-H', `host: ${host}`, '-w', '\n%{http_code}', url]);
  const lines = r.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return {
    status: Number.isFinite(status) ? status : 0,
    body: lines.join('\n'),
    ...(r.code !== 0 ? { error: r.stderr.trim() || `curl exit ${r.code}` } : {}),
  };
}

/** An HTTP request from a pod to the server's ClusterIP (curl in the pod's network namespace). */
export async function request(cluster: Cluster, from: RunningPod, urlPath: string): Promise<HttpAnswer> {
  const svc = cluster.api.getObject('Service', 'server', APP_NAMESPACE)!;
  const ip = (svc.spec as { clusterIP: string }).clusterIP;
  return curlFrom(cluster, from, 'server.shop.svc.cluster.local', `http://${ip}${urlPath}`);
}

export const marker = (): string => `ambit-plaintext-${randomBytes(6).toString('hex')}`;

export function l4Policy(): FakeObject {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'server-callers', namespace: APP_NAMESPACE },
    spec: {
      selector: { matchLabels: { app: 'server' } },
      action: 'ALLOW',
      rules: [{ from: [{ source: { principals: [`cluster.local/ns/${APP_NAMESPACE}/sa/client`] } }] }],
    },
  };
}

export function l7Policy(): FakeObject {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'server-admin', namespace: APP_NAMESPACE },
    spec: {
      selector: { matchLabels: { app: 'server' } },
      action: 'DENY',
      rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }],
    },
  };
}

/** An Istio Gateway for the chart's ingress gateway (release namespace) and a VirtualService to the server. */
export function ingressObjects(namespace: string): FakeObject[] {
  return [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'ingress', namespace },
      spec: {
        selector: { istio: 'ingressgateway' },
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['shop.example.com'] }],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'shop-ingress', namespace },
      spec: {
        hosts: ['shop.example.com'],
        gateways: ['ingress'],
        http: [
          { route: [{ destination: { host: `server.${APP_NAMESPACE}.svc.cluster.local`, port: { number: 80 } } }] },
        ],
      },
    },
  ];
}

/** An HTTP request from a pod to the ingress gateway pod's port 80, for shop.example.com. */
export async function requestViaGateway(
  cluster: Cluster,
  from: RunningPod,
  gatewayIp: string,
  urlPath: string,
): Promise<HttpAnswer> {
  return curlFrom(cluster, from, 'shop.example.com', `http://${gatewayIp}${urlPath}`);
}
