// DestinationRule → clusters: lookup order, subsets by labels, policy precedence and every
// traffic-policy field family.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import type { Cluster } from '../../core/model/l7.js';

const MESH = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: wp } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: shop }
spec: { gatewayClassName: ambit-waypoint }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { selector: { app: cart }, ports: [{ name: http, port: 80, targetPort: 8080 }, { name: grpc, port: 9000 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: cart-a, namespace: shop, labels: { app: cart, version: v1, topology.kubernetes.io/region: eu, topology.kubernetes.io/zone: eu-1 } }
spec: { serviceAccountName: cart }
status: { podIP: 10.0.1.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: cart-b, namespace: shop, labels: { app: cart, version: v2 } }
spec: { serviceAccountName: cart }
status: { podIP: 10.0.1.2 }
`;

function clusters(extra: string): Map<string, Cluster> {
  const result = translate(yamlObjects(`${MESH}---\n${extra}`));
  expect(result.rejected.map(formatRejection)).toEqual([]);
  return new Map((result.waypoints.get('shop')?.clusters ?? []).map((c) => [c.name, c]));
}

const ROUTE_TO_SUBSETS = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: cart, namespace: shop }
spec:
  hosts: [cart]
  http: [{ route: [{ destination: { host: cart, subset: v1 }, weight: 50 }, { destination: { host: cart, subset: v2 }, weight: 50 }] }]
`;

describe('DestinationRule → clusters', () => {
  it('every traffic policy family, with port-level and subset-level overrides', () => {
    const c = clusters(`apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: cart, namespace: shop }
spec:
  host: cart.shop.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash: { httpCookie: { name: session, path: /, ttl: 60s } }
      localityLbSetting: { enabled: true, failover: [{ from: eu, to: us }] }
    connectionPool:
      tcp: { maxConnections: 10, connectTimeout: 250ms }
      http: { http1MaxPendingRequests: 1, http2MaxRequests: 100, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: 30s }
    outlierDetection: { consecutive5xxErrors: 1, consecutiveGatewayErrors: 2, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100, minHealthPercent: 0 }
    tls: { mode: ISTIO_MUTUAL }
    portLevelSettings:
      - port: { number: 9000 }
        loadBalancer: { simple: LEAST_REQUEST }
  subsets:
    - name: v1
      labels: { version: v1 }
    - name: v2
      labels: { version: v2 }
      trafficPolicy:
        connectionPool: { tcp: { maxConnections: 1 } }
        tls: { mode: SIMPLE, sni: cart.internal, subjectAltNames: [cart.internal] }
${ROUTE_TO_SUBSETS}`);
    const base = c.get('outbound|80||cart.shop.svc.cluster.local');
    expect(base?.trafficPolicy).toEqual({
      loadBalancer: {
        consistentHash: { httpCookie: { name: 'session', path: '/', ttlMs: 60_000 } },
        localityLbSetting: { enabled: true, failover: [{ from: 'eu', to: 'us' }] },
      },
      connectionPool: {
        tcp: { maxConnections: 10, connectTimeoutMs: 250 },
        http: {
          http1MaxPendingRequests: 1,
          http2MaxRequests: 100,
          maxRequestsPerConnection: 1,
          maxRetries: 3,
          idleTimeoutMs: 30_000,
        },
      },
      outlierDetection: {
        consecutive5xxErrors: 1,
        consecutiveGatewayErrors: 2,
        intervalMs: 1000,
        baseEjectionTimeMs: 180_000,
        maxEjectionPercent: 100,
        minHealthPercent: 0,
      },
      tls: { mode: 'ISTIO_MUTUAL' },
    });
    expect(base?.destinationRule).toBe('shop/cart');
    expect(base?.endpoints.map((e) => [e.address, e.port])).toEqual([
      ['10.0.1.1', 8080],
      ['10.0.1.2', 8080],
    ]);
    expect(c.get('outbound|9000||cart.shop.svc.cluster.local')?.trafficPolicy.loadBalancer).toEqual({
      simple: 'LEAST_REQUEST',
    });
    const v2 = c.get('outbound|80|v2|cart.shop.svc.cluster.local');
    expect(v2?.endpoints.map((e) => e.address)).toEqual(['10.0.1.2']);
    expect(v2?.trafficPolicy.connectionPool).toEqual({ tcp: { maxConnections: 1 } });
    expect(v2?.trafficPolicy.tls).toEqual({ mode: 'SIMPLE', sni: 'cart.internal', subjectAltNames: ['cart.internal'] });
    expect(v2?.trafficPolicy.outlierDetection?.consecutive5xxErrors).toBe(1);
    const v1 = c.get('outbound|80|v1|cart.shop.svc.cluster.local');
    expect(v1?.endpoints[0]).toEqual({
      address: '10.0.1.1',
      port: 8080,
      workloadUid: 'Pod/shop/cart-a',
      identity: 'spiffe://cluster.local/ns/shop/sa/cart',
      labels: {
        app: 'cart',
        version: 'v1',
        'topology.kubernetes.io/region': 'eu',
        'topology.kubernetes.io/zone': 'eu-1',
      },
      locality: { region: 'eu', zone: 'eu-1' },
      hbone: true,
    });
  });

  it('locality distribute, simple load balancers and the deprecated consecutiveErrors', () => {
    const c = clusters(`apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: { name: cart, namespace: shop }
spec:
  host: cart
  trafficPolicy:
    loadBalancer:
      simple: RANDOM
      localityLbSetting: { enabled: true, distribute: [{ from: "eu/eu-1/*", to: { "eu/eu-1/*": 80, "eu/eu-2/*": 20 } }] }
    outlierDetection: { consecutiveErrors: 5 }
`);
    const base = c.get('outbound|80||cart.shop.svc.cluster.local');
    expect(base?.trafficPolicy.loadBalancer).toEqual({
      simple: 'RANDOM',
      localityLbSetting: {
        enabled: true,
        distribute: [{ from: 'eu/eu-1/*', to: { 'eu/eu-1/*': 80, 'eu/eu-2/*': 20 } }],
      },
    });
    expect(base?.trafficPolicy.outlierDetection).toEqual({ consecutive5xxErrors: 5 });
  });

  it('lookup: the client (waypoint) namespace first, then the service namespace, then the root namespace', () => {
    const dr = (ns: string, lb: string, host = 'cart.shop.svc.cluster.local'): string => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: cart-${ns}, namespace: ${ns} }
spec: { host: ${host}, trafficPolicy: { loadBalancer: { simple: ${lb} } } }
`;
    const lbOf = (yaml: string): string | undefined =>
      clusters(yaml).get('outbound|80||cart.shop.svc.cluster.local')?.trafficPolicy.loadBalancer?.simple;
    expect(lbOf(dr('istio-system', 'RANDOM'))).toBe('RANDOM');
    expect(lbOf(dr('istio-system', 'RANDOM') + dr('shop', 'LEAST_REQUEST'))).toBe('LEAST_REQUEST');
    // a wildcard host in the service's namespace is used when nothing more specific exists
    expect(lbOf(dr('shop', 'ROUND_ROBIN', '"*.svc.cluster.local"'))).toBe('ROUND_ROBIN');
    expect(
      lbOf(dr('shop', 'ROUND_ROBIN', '"*.svc.cluster.local"').replace('cart-shop', 'wild') + dr('shop', 'LEAST_CONN')),
    ).toBe('LEAST_CONN');
  });

  it('DestinationRules for the same host in one namespace are merged: subsets united, the oldest policy wins', () => {
    const c = clusters(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: cart-a, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z" }
spec: { host: cart, trafficPolicy: { loadBalancer: { simple: RANDOM } }, subsets: [{ name: v1, labels: { version: v1 } }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: cart-b, namespace: shop, creationTimestamp: "2024-03-01T00:00:00Z" }
spec: { host: cart, trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } }, subsets: [{ name: v2, labels: { version: v2 } }] }
${ROUTE_TO_SUBSETS}`);
    expect(c.get('outbound|80|v2|cart.shop.svc.cluster.local')?.endpoints.map((e) => e.address)).toEqual(['10.0.1.2']);
    expect(c.get('outbound|80|v1|cart.shop.svc.cluster.local')?.trafficPolicy.loadBalancer).toEqual({
      simple: 'RANDOM',
    });
  });

  it('ServiceEntry destinations: external DNS cluster with TLS origination', () => {
    const c = clusters(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: stripe, namespace: shop }
spec:
  hosts: [api.stripe.example]
  ports: [{ number: 443, name: https, protocol: HTTPS }, { number: 80, name: http, protocol: HTTP, targetPort: 443 }]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: stripe, namespace: shop }
spec:
  host: api.stripe.example
  trafficPolicy:
    portLevelSettings: [{ port: { number: 80 }, tls: { mode: SIMPLE, sni: api.stripe.example } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: stripe, namespace: shop }
spec:
  hosts: [api.stripe.example]
  http: [{ route: [{ destination: { host: api.stripe.example, port: { number: 80 } } }], timeout: 3s, retries: { attempts: 2, retryOn: connect-failure } }]
`);
    expect(c.get('outbound|80||api.stripe.example')).toMatchObject({
      external: true,
      resolution: 'DNS',
      protocol: 'http',
      endpoints: [{ address: 'api.stripe.example', port: 443, labels: {} }],
      trafficPolicy: { tls: { mode: 'SIMPLE', sni: 'api.stripe.example' } },
    });
  });
});
