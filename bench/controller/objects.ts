// The Kubernetes objects of a controller benchmark, generated in memory: N services with 5
// endpoint pods each, spread over a few ambient namespaces and `nodes` nodes, plus what a real
// cluster sprinkles on top: one STRICT PeerAuthentication per namespace, an L4 ALLOW
// AuthorizationPolicy for every 20th service, a DENY per namespace, a DestinationRule +
// VirtualService (90/10 split) for every 50th service, and a waypoint in two namespaces.
import type { KubeObject } from '../../controller/sources/types.js';
import { canarySplit } from '../../test/support/canary-split.js';

export interface MeshShape {
  readonly services: number;
  readonly podsPerService?: number;
  readonly namespaces?: number;
  readonly nodes?: number;
}

export const NODE_PREFIX = 'bench-node-';

export const nodeName = (i: number): string => `${NODE_PREFIX}${i}`;

/** 10.64.0.0/10 holds 4M addresses: enough for 50k services × 5 pods (+ churn). */
export function podIp(index: number): string {
  const n = (64 << 16) + index + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function pod(svc: number, replica: number, index: number, ns: string, nodes: number, rv: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `svc${svc}-${replica}`,
      namespace: ns,
      uid: `pod-${svc}-${replica}`,
      resourceVersion: String(rv),
      labels: { app: `svc${svc}`, version: replica < 3 ? 'v1' : 'v2' },
    },
    spec: {
      serviceAccountName: `sa${svc}`,
      nodeName: nodeName(index % nodes),
      containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }],
    },
    status: {
      phase: 'Running',
      podIP: podIp(index),
      podIPs: [{ ip: podIp(index) }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

export function generateMesh(shape: MeshShape): KubeObject[] {
  const perService = shape.podsPerService ?? 5;
  const namespaces = shape.namespaces ?? 10;
  const nodes = shape.nodes ?? 100;
  const out: KubeObject[] = [];
  const nsOf = (i: number): string => `bench${i % namespaces}`;
  for (let n = 0; n < namespaces; n++) {
    const ns = `bench${n}`;
    const waypoint = n < 2;
    out.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'mesh-mode': 'ambient', ...(waypoint ? { 'mesh-waypoint': 'waypoint' } : {}) } },
    });
    if (waypoint)
      out.push({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: 'waypoint', namespace: ns },
        spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
      });
    out.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: ns },
      spec: { mtls: { mode: 'STRICT' } },
    });
    out.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'deny-legacy', namespace: ns },
      spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['legacy'] } }] }] },
    });
  }
  for (let n = 0; n < nodes; n++)
    out.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: nodeName(n),
        labels: { 'topology.kubernetes.io/region': 'bench', 'topology.kubernetes.io/zone': `zone-${n % 3}` },
      },
    });
  let podIndex = 0;
  for (let i = 0; i < shape.services; i++) {
    const ns = nsOf(i);
    out.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `sa${i}`, namespace: ns } });
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${i}`, namespace: ns, uid: `svc-${i}` },
      spec: {
        selector: { app: `svc${i}` },
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'grpc', port: 9090, targetPort: 9090 },
        ],
      },
    });
    for (let p = 0; p < perService; p++) out.push(pod(i, p, podIndex++, ns, nodes, 1));
    if (i % 20 === 0) {
      const caller = `sa${(i + 1) % shape.services}`;
      out.push({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: `svc${i}-allow`, namespace: ns },
        spec: {
          selector: { matchLabels: { app: `svc${i}` } },
          action: 'ALLOW',
          rules: [
            {
              from: [{ source: { principals: [`cluster.local/ns/${nsOf(i + 1)}/sa/${caller}`] } }],
              to: [{ operation: { ports: ['8080'] } }],
            },
          ],
        },
      });
    }
    if (i % 50 === 0) {
      out.push(...canarySplit(ns, `svc${i}`));
    }
  }
  return out;
}

/**
 * The change a push is timed for: one more endpoint pod for service `svc` (a scale-up), as
 * the Kubernetes API would report it. `seq` keeps names and IPs unique across changes.
 */
export function scaleUpPod(shape: MeshShape, svc: number, seq: number): KubeObject {
  const perService = shape.podsPerService ?? 5;
  const namespaces = shape.namespaces ?? 10;
  const index = shape.services * perService + seq;
  return pod(svc, perService + seq, index, `bench${svc % namespaces}`, shape.nodes ?? 100, 1);
}
