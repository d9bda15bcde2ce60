// Ingress gateways: Istio Gateway with bound VirtualServices, Gateway API Gateway with HTTPRoutes.
import { describe, expect, it } from 'vitest';
import { translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { MESH } from './testdata/mesh.js';

// Each test spells out its own Gateway YAML: alike in shape, kept inline so a test reads on its own.
describe('Istio Gateway', () => {
  it("TLS PASSTHROUGH and TCP servers carry the bound VirtualServices' tls (SNI) and tcp routes", () => {
    const result = translate(
      yamlObjects(`${MESH}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: tls, protocol: TLS }
      hosts: ["db.example.com"]
      tls: { mode: PASSTHROUGH }
    - port: { number: 31400, name: tcp, protocol: TCP }
      hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: shop }
spec:
  hosts: [db.example.com]
  gateways: [edge]
  tls: [{ match: [{ port: 443, sniHosts: [db.example.com] }], route: [{ destination: { host: reviews, port: { number: 9443 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: raw, namespace: shop }
spec:
  hosts: ["*"]
  gateways: [edge]
  tcp: [{ match: [{ port: 31400 }], route: [{ destination: { host: ratings, port: { number: 9000 } } }] }]
`),
    );
    const gw = result.gateways.get('shop/edge');
    const db = gw?.virtualHosts.find((v) => v.name === 'db.example.com:443');
    expect(db?.protocol).toBe('tls');
    expect(db?.tlsRoutes?.[0]?.matches[0]?.sniHosts).toEqual(['db.example.com']);
    expect(db?.tlsRoutes?.[0]?.destinations[0]?.host).toBe('reviews.shop.svc.cluster.local');
    const tcp = gw?.virtualHosts.find((v) => v.name === '*:31400');
    expect(tcp?.tcpRoutes?.[0]?.destinations[0]?.cluster).toMatch(/ratings\.shop\.svc\.cluster\.local/);
    expect(gw?.clusters.map((c) => c.host)).toEqual(
      expect.arrayContaining(['reviews.shop.svc.cluster.local', 'ratings.shop.svc.cluster.local']),
    );
  });

  it('servers and the routes of bound VirtualServices (merged for the same host)', () => {
    const result = translate(
      yamlObjects(`${MESH}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ["shop.example.com"]
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: ["*"]
      tls: { mode: SIMPLE, credentialName: shop-cert }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: front, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  hosts: [shop.example.com]
  gateways: [ingress]
  http: [{ name: api, match: [{ uri: { prefix: /api } }], route: [{ destination: { host: reviews, port: { number: 9080 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: front-2, namespace: shop, creationTimestamp: "2024-02-01T00:00:00Z" }
spec:
  hosts: [shop.example.com]
  gateways: [shop/ingress]
  http:
    - name: internal-only
      match: [{ uri: { prefix: /internal }, gateways: [mesh] }]
      route: [{ destination: { host: ratings } }]
    - name: rest
      route: [{ destination: { host: ratings } }]
`),
    );
    expect(result.rejected).toEqual([]);
    const gw = result.gateways.get('shop/ingress');
    expect(gw?.selector).toEqual({ istio: 'ingressgateway' });
    expect(gw?.servers).toEqual([
      { port: 80, name: 'http', protocol: 'HTTP', hosts: ['shop.example.com'] },
      {
        port: 443,
        name: 'https',
        protocol: 'HTTPS',
        hosts: ['*'],
        tls: { mode: 'SIMPLE', credentialName: 'shop-cert' },
      },
    ]);
    expect(gw?.virtualHosts.map((v) => [v.name, v.routes.map((r) => r.name)])).toEqual([
      ['shop.example.com:443', ['api', 'rest']],
      ['shop.example.com:80', ['api', 'rest']],
    ]);
    expect(gw?.clusters.map((c) => c.name)).toEqual([
      'outbound|8080||ratings.shop.svc.cluster.local',
      'outbound|9080||reviews.shop.svc.cluster.local',
    ]);
  });
});

describe('Gateway API ingress', () => {
  it('a Gateway of another class with attached HTTPRoutes becomes a GatewayConfig', () => {
    const result = translate(
      yamlObjects(`${MESH}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: ambit
  listeners:
    - { name: http, port: 8080, protocol: HTTP, hostname: "*.example.com" }
    - { name: https, port: 8443, protocol: HTTPS, tls: { mode: Terminate, certificateRefs: [{ name: shop-cert }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: http }]
  hostnames: [shop.example.com, other.org]
  rules:
    - matches: [{ path: { type: Exact, value: /reviews } }]
      backendRefs: [{ name: reviews, port: 9080 }]
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 301 } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: elsewhere, namespace: shop }
spec:
  parentRefs: [{ name: not-this-one }]
  rules: [{ backendRefs: [{ name: ratings, port: 8080 }] }]
`),
    );
    expect(result.rejected).toEqual([]);
    const gw = result.gateways.get('shop/edge');
    expect(gw?.selector).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'edge' });
    expect(gw?.servers).toEqual([
      { port: 8080, name: 'http', protocol: 'HTTP', hosts: ['*.example.com'] },
      {
        port: 8443,
        name: 'https',
        protocol: 'HTTPS',
        hosts: ['*'],
        tls: { mode: 'SIMPLE', credentialName: 'shop-cert' },
      },
    ]);
    expect(gw?.virtualHosts.map((v) => v.name)).toEqual(['shop.example.com:8080']);
    const [exact, redirect] = gw?.virtualHosts[0]?.routes ?? [];
    expect(exact?.matches).toEqual([{ uri: { type: 'exact', value: '/reviews' } }]);
    expect(exact?.destinations?.[0]?.cluster).toBe('outbound|9080||reviews.shop.svc.cluster.local');
    expect(redirect?.redirect).toEqual({ scheme: 'https', code: 301 });
    expect(gw?.clusters.map((c) => c.name)).toEqual(['outbound|9080||reviews.shop.svc.cluster.local']);
    // the waypoint Gateway is not an ingress
    expect(result.gateways.has('shop/wp')).toBe(false);
  });
});
