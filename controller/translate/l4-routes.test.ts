// VirtualService `tcp`, `tls` routes and `corsPolicy` → the waypoint's model.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { MESH } from './testdata/mesh.js';
import type { VirtualHost, WaypointConfig } from '../../core/model/l7.js';

const DB = `---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { selector: { app: db }, ports: [{ name: tcp, port: 5432 }, { name: tls, port: 443 }] }
---
apiVersion: v1
kind: Service
metadata: { name: db-canary, namespace: shop }
spec: { selector: { app: db-canary }, ports: [{ name: tcp, port: 5432 }] }
`;

function waypoint(extra: string): WaypointConfig {
  const result = translate(yamlObjects(`${MESH}${DB}---\n${extra}`));
  expect(result.rejected.map(formatRejection)).toEqual([]);
  const wp = result.waypoints.get('shop');
  if (!wp) throw new Error('no waypoint config');
  return wp;
}

const vhost = (wp: WaypointConfig, host: string, port: number): VirtualHost | undefined =>
  wp.virtualHosts.find((v) => v.host === `${host}.shop.svc.cluster.local` && v.port === port);

describe('VirtualService tcp and tls routes', () => {
  it('tcp: weighted destinations with subsets, matches per port and source, clusters for each', () => {
    const wp = waypoint(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: shop }
spec:
  hosts: [db]
  tcp:
    - match: [{ port: 5432, sourceLabels: { app: web } }, { sourceNamespace: other }]
      route:
        - { destination: { host: db, port: { number: 5432 } }, weight: 80 }
        - { destination: { host: db-canary }, weight: 20 }
    - match: [{ port: 9999 }]
      route: [{ destination: { host: db } }]
    - route: [{ destination: { host: reviews, subset: v2, port: { number: 9080 } } }]
`);
    const v = vhost(wp, 'db', 5432);
    expect(v?.tcpRoutes).toEqual([
      {
        source: 'shop/db',
        name: 'shop/db#tcp0',
        matches: [{ port: 5432, sourceLabels: { app: 'web' } }, { sourceNamespace: 'other' }],
        destinations: [
          {
            host: 'db.shop.svc.cluster.local',
            port: 5432,
            weight: 80,
            cluster: 'outbound|5432||db.shop.svc.cluster.local',
          },
          {
            host: 'db-canary.shop.svc.cluster.local',
            port: 5432,
            weight: 20,
            cluster: 'outbound|5432||db-canary.shop.svc.cluster.local',
          },
        ],
      },
      {
        source: 'shop/db',
        name: 'shop/db#tcp2',
        matches: [],
        destinations: [
          {
            host: 'reviews.shop.svc.cluster.local',
            subset: 'v2',
            port: 9080,
            weight: 100,
            cluster: 'outbound|9080|v2|reviews.shop.svc.cluster.local',
          },
        ],
      },
    ]);
    // On port 443 only the blocks without a port match remain.
    expect(vhost(wp, 'db', 443)?.tcpRoutes?.map((r) => [r.name, r.matches])).toEqual([
      ['shop/db#tcp0', [{ sourceNamespace: 'other' }]],
      ['shop/db#tcp2', []],
    ]);
    const clusters = wp.clusters.map((c) => c.name);
    expect(clusters).toContain('outbound|5432||db-canary.shop.svc.cluster.local');
    expect(clusters).toContain('outbound|9080|v2|reviews.shop.svc.cluster.local');
    expect(wp.clusters.find((c) => c.name === 'outbound|9080|v2|reviews.shop.svc.cluster.local')?.endpoints).toEqual([
      expect.objectContaining({ address: '10.0.0.2' }),
    ]);
    expect(v?.tlsRoutes).toBeUndefined();
  });

  it('tls: sniHosts lower-cased, weighted destinations; a route bound to another gateway stays off the mesh', () => {
    const wp = waypoint(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db-tls, namespace: shop }
spec:
  hosts: [db]
  tls:
    - match: [{ port: 443, sniHosts: [DB.shop.example, "*.canary.example"] }]
      route:
        - { destination: { host: db, port: { number: 443 } }, weight: 50 }
        - { destination: { host: db-canary, port: { number: 5432 } }, weight: 50 }
    - match: [{ sniHosts: [edge.example], gateways: [ingress] }]
      route: [{ destination: { host: db } }]
`);
    const v = vhost(wp, 'db', 443);
    expect(v?.tlsRoutes).toHaveLength(1);
    expect(v?.tlsRoutes?.[0]?.matches).toEqual([{ port: 443, sniHosts: ['db.shop.example', '*.canary.example'] }]);
    expect(v?.tlsRoutes?.[0]?.destinations.map((d) => [d.cluster, d.weight])).toEqual([
      ['outbound|443||db.shop.svc.cluster.local', 50],
      ['outbound|5432||db-canary.shop.svc.cluster.local', 50],
    ]);
    expect(vhost(wp, 'db', 5432)?.tlsRoutes).toBeUndefined();
  });
});

describe('VirtualService corsPolicy', () => {
  it('every field, maxAge in whole seconds', () => {
    const wp = waypoint(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - corsPolicy:
        allowOrigins: [{ exact: "https://shop.example" }, { prefix: "https://dev." }, { regex: "https://.*\\\\.test" }]
        allowMethods: [GET, POST]
        allowHeaders: [x-user, content-type]
        exposeHeaders: [x-trace]
        maxAge: 24h
        allowCredentials: true
        unmatchedPreflights: IGNORE
      route: [{ destination: { host: reviews } }]
`);
    expect(vhost(wp, 'reviews', 9080)?.routes[0]?.corsPolicy).toEqual({
      allowOrigins: [
        { type: 'exact', value: 'https://shop.example' },
        { type: 'prefix', value: 'https://dev.' },
        { type: 'regex', value: 'https://.*\\.test' },
      ],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['x-user', 'content-type'],
      exposeHeaders: ['x-trace'],
      maxAgeSeconds: 86400,
      allowCredentials: true,
      unmatchedPreflights: 'IGNORE',
    });
  });
});

describe('validation of tcp, tls and corsPolicy', () => {
  // The schema's findings (sniHosts required, the preflight enum) come first, as the API server
  // refuses such an object before Istio's validation sees it; maxAge is a value rule.
  it('names the field: a tls match without sniHosts, a bad preflight mode, a bad maxAge', () => {
    const result = translate(
      yamlObjects(`${MESH}${DB}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bad, namespace: shop }
spec:
  hosts: [db]
  tls:
    - match: [{ port: 443 }]
      route: [{ destination: { host: db } }]
  http:
    - corsPolicy: { allowOrigins: [{ exact: x }], unmatchedPreflights: DROP }
      route: [{ destination: { host: db } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bad-age, namespace: shop }
spec:
  hosts: [db]
  http:
    - corsPolicy: { allowOrigins: [{ exact: x }], maxAge: soon }
      route: [{ destination: { host: db } }]
`),
    );
    const text = result.rejected.map(formatRejection).join('\n');
    expect(text).toContain('spec.tls[0].match[0].sniHosts');
    expect(text).toContain('spec.http[0].corsPolicy.unmatchedPreflights');
    expect(text).toContain('spec.http[0].corsPolicy.maxAge');
  });
});
