import { describe, expect, it } from 'vitest';
import { translate } from './index.js';
import { portProtocol } from './services.js';
import { yamlObjects } from './testdata/load.js';

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { mesh-mode: ambient } }\n';

describe('services', () => {
  it.each([
    ['http', undefined, 'http'],
    ['http-web', undefined, 'http'],
    ['http2-api', undefined, 'http2'],
    ['grpc-inv', undefined, 'grpc'],
    ['tcp-db', undefined, 'tcp'],
    ['tls', undefined, 'tls'],
    ['https-x', undefined, 'https'],
    ['mongo', undefined, 'mongo'],
    ['web', undefined, 'unknown'],
    [undefined, undefined, 'unknown'],
    ['web', 'http', 'http'],
    ['tcp', 'grpc', 'grpc'],
    ['x', 'kubernetes.io/h2c', 'http2'],
    ['x', 'HTTP2', 'http2'],
  ] as const)('protocol of port name %s / appProtocol %s is %s', (name, app, expected) => {
    expect(portProtocol(name, app)).toBe(expected);
  });

  it('keeps clusterIP(s), leaves headless services without VIP, allocates empty ones from 10.96.0.0/16', () => {
    const objects = yamlObjects(`${NS}---
apiVersion: v1
kind: Service
metadata: { name: fixed, namespace: shop }
spec: { clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, "fd00::10"], ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: headless, namespace: shop }
spec: { clusterIP: None, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: local, namespace: shop }
spec: { ports: [{ port: 80 }] }
`);
    const svcs = translate(objects).snapshot.services;
    const by = (n: string) => svcs.find((s) => s.name === n);
    expect(by('fixed')?.vips).toEqual(['10.96.0.10', 'fd00::10']);
    expect(by('headless')?.vips).toEqual([]);
    expect(by('local')?.vips[0]).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(by('local')?.vips[0]).not.toBe('10.96.0.10');
    expect(by('local')?.hostname).toBe('local.shop.svc.cluster.local');
    expect(by('local')?.key).toBe('shop/local.shop.svc.cluster.local');
  });

  it('allocation never hands out an address already taken by another Service', () => {
    // many services: the probe must skip addresses that are explicitly assigned
    const docs = Array.from(
      { length: 300 },
      (_, i) =>
        `apiVersion: v1\nkind: Service\nmetadata: { name: s${i}, namespace: shop }\nspec: { ports: [{ port: 80 }] }\n`,
    );
    const first = translate(yamlObjects(docs.join('---\n'))).snapshot.services;
    const taken = first[0]?.vips[0] ?? '';
    const fixed = `apiVersion: v1\nkind: Service\nmetadata: { name: zz, namespace: shop }\nspec: { clusterIP: ${taken}, ports: [{ port: 80 }] }\n`;
    const svcs = translate(yamlObjects([...docs, fixed].join('---\n'))).snapshot.services;
    const vips = svcs.map((s) => s.vips[0]);
    expect(new Set(vips).size).toBe(301);
    expect(svcs.find((s) => s.name === 'zz')?.vips[0]).toBe(taken);
  });

  it('endpoints from the selector, ready and not terminating pods only', () => {
    const objects = yamlObjects(`${NS}---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: web-a, namespace: shop, labels: { app: web, version: v1 } }
status: { podIP: 10.0.0.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: web-b, namespace: shop, labels: { app: web } }
status: { podIP: 10.0.0.2, conditions: [{ type: Ready, status: "False" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: web-c, namespace: shop, labels: { app: web }, deletionTimestamp: "2024-01-01T00:00:00Z" }
status: { podIP: 10.0.0.4 }
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: shop, labels: { app: other } }
status: { podIP: 10.0.0.3 }
`);
    const svc = translate(objects).snapshot.services[0];
    expect(svc?.ports).toEqual([{ name: 'http', port: 80, targetPort: 8080, protocol: 'http' }]);
    expect(svc?.endpoints).toEqual([
      { workloadUid: 'Pod/shop/web-a', address: '10.0.0.1', labels: { app: 'web', version: 'v1' } },
    ]);
  });

  it('endpoints from EndpointSlices when present (ports by name, not-ready skipped, pod linked)', () => {
    const objects = yamlObjects(`${NS}---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: api }, ports: [{ name: http, port: 80, targetPort: web }] }
---
apiVersion: v1
kind: Pod
metadata: { name: api-1, namespace: shop, labels: { app: api } }
status: { podIP: 10.1.0.1 }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: api-abc, namespace: shop, labels: { kubernetes.io/service-name: api } }
addressType: IPv4
ports: [{ name: http, port: 8081 }]
endpoints:
  - { addresses: [10.1.0.1], conditions: { ready: true }, targetRef: { kind: Pod, name: api-1, namespace: shop } }
  - { addresses: [10.1.0.2], conditions: { ready: false } }
  - { addresses: [10.1.0.3] }
`);
    const svc = translate(objects).snapshot.services[0];
    expect(svc?.endpoints).toEqual([
      { workloadUid: 'Pod/shop/api-1', address: '10.1.0.1', ports: { 80: 8081 }, labels: { app: 'api' } },
      { address: '10.1.0.3', ports: { 80: 8081 } },
    ]);
  });

  it('exportTo from the networking.istio.io/exportTo annotation (. = own namespace)', () => {
    const objects = yamlObjects(`${NS}---
apiVersion: v1
kind: Service
metadata: { name: private, namespace: shop, annotations: { networking.istio.io/exportTo: "., ops" } }
spec: { ports: [{ port: 80 }] }
`);
    expect(translate(objects).snapshot.services[0]?.exportTo).toEqual(['shop', 'ops']);
  });

  it('ServiceEntry: one service per host, location, resolution, addresses, endpoints and auto-allocated VIPs', () => {
    const objects = yamlObjects(`${NS}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: payments-api, namespace: shop }
spec:
  hosts: [api.stripe.example, api2.stripe.example]
  ports: [{ number: 443, name: https, protocol: HTTPS }, { number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  location: MESH_EXTERNAL
  resolution: DNS
  exportTo: ["."]
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: db, namespace: shop }
spec:
  hosts: [db.internal]
  addresses: [192.168.50.0/24]
  ports: [{ number: 5432, name: tcp-pg, protocol: TCP }]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints:
    - { address: 192.168.50.10, labels: { role: primary }, locality: eu/eu-1, weight: 3, ports: { tcp-pg: 6432 } }
    - { address: 192.168.50.11 }
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: { name: vms, namespace: shop }
spec:
  hosts: [legacy.shop.internal]
  ports: [{ number: 8080, name: http, protocol: HTTP }]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: { labels: { app: legacy } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: vm-1, namespace: shop }
spec: { address: 10.9.0.1, labels: { app: legacy } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: anything, namespace: shop }
spec:
  hosts: ["*.googleapis.example"]
  ports: [{ number: 443, name: tls, protocol: TLS }]
`);
    const svcs = translate(objects).snapshot.services;
    const by = (h: string) => svcs.find((s) => s.hostname === h);
    expect(by('api.stripe.example')).toMatchObject({
      key: 'shop/api.stripe.example',
      external: true,
      resolution: 'DNS',
      exportTo: ['shop'],
      ports: [
        { name: 'https', port: 443, targetPort: 443, protocol: 'https' },
        { name: 'http', port: 80, targetPort: 8080, protocol: 'http' },
      ],
      endpoints: [{ address: 'api.stripe.example' }],
    });
    expect(by('api.stripe.example')?.vips[0]).toMatch(/^240\.240\./);
    expect(by('api2.stripe.example')?.vips[0]).not.toBe(by('api.stripe.example')?.vips[0]);
    expect(by('db.internal')).toMatchObject({
      vips: ['192.168.50.0/24'],
      external: false,
      resolution: 'STATIC',
      endpoints: [
        {
          address: '192.168.50.10',
          labels: { role: 'primary' },
          locality: { region: 'eu', zone: 'eu-1' },
          weight: 3,
          ports: { 5432: 6432 },
        },
        { address: '192.168.50.11', labels: {} },
      ],
    });
    expect(by('legacy.shop.internal')?.endpoints).toEqual([
      { workloadUid: 'WorkloadEntry/shop/vm-1', address: '10.9.0.1', labels: { app: 'legacy' } },
    ]);
    expect(by('*.googleapis.example')).toMatchObject({ vips: [], resolution: 'NONE', external: true });
  });

  it('service waypoints: namespace label, service label override, and none', () => {
    const objects = yamlObjects(`apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: wp } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: shop, annotations: { ambit.dev/pod-ip: 10.244.9.9 } }
spec: { gatewayClassName: ambit-waypoint }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: special, namespace: shop }
spec: { gatewayClassName: istio-waypoint }
---
apiVersion: v1
kind: Pod
metadata: { name: special-0, namespace: shop, labels: { gateway.networking.k8s.io/gateway-name: special } }
spec: { serviceAccountName: special-sa }
status: { podIP: 10.244.9.10 }
---
apiVersion: v1
kind: Service
metadata: { name: a, namespace: shop }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: b, namespace: shop, labels: { istio.io/use-waypoint: special } }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: c, namespace: shop, labels: { istio.io/use-waypoint: none } }
spec: { ports: [{ port: 80 }] }
`);
    const result = translate(objects);
    const by = (n: string) => result.snapshot.services.find((s) => s.name === n);
    expect(by('a')?.waypoint).toEqual({
      name: 'wp',
      namespace: 'shop',
      address: '10.244.9.9',
      identity: 'spiffe://cluster.local/ns/shop/sa/wp',
    });
    expect(by('b')?.waypoint).toEqual({
      name: 'special',
      namespace: 'shop',
      address: '10.244.9.10',
      identity: 'spiffe://cluster.local/ns/shop/sa/special-sa',
    });
    expect(by('c')?.waypoint).toBeUndefined();
    expect(result.waypoints.get('shop')?.virtualHosts.map((v) => v.host)).toEqual([
      'a.shop.svc.cluster.local',
      'b.shop.svc.cluster.local',
    ]);
  });
});
