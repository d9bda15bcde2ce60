// The VirtualService analyzers read the decoded spec: references in every place a destination
// can be written (http routes and mirrors, tcp and tls routes) and the Gateway a VirtualService
// binds are found through their typed fields; a VirtualService whose spec does not decode is
// only a schema error (IST0106), never analysed from its raw fields.
import { describe, expect, it } from 'vitest';
import { yamlObjects } from '../translate/testdata/load.js';
import { analyze, type Message } from './index.js';

const SHOP = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { ports: [{ name: tcp, port: 5432 }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec: { servers: [{ port: { number: 443, name: tls, protocol: TLS }, hosts: [db.example], tls: { mode: PASSTHROUGH } }] }
`;

const found = (yaml: string): [string, string | undefined, string][] =>
  analyze(yamlObjects(`${SHOP}---\n${yaml}`))
    .filter((m: Message) => m.origin.kind === 'VirtualService')
    .map((m) => [m.type.code, m.field, m.origin.name]);

describe('VirtualService analyzers on the decoded spec', () => {
  it('IST0101 for a mirror, a tcp and a tls destination; IST0132 for a host the Gateway does not serve', () => {
    expect(
      found(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: routes, namespace: shop }
spec:
  hosts: [db, db.example]
  gateways: [edge, mesh]
  http: [{ route: [{ destination: { host: db } }], mirror: { host: shadow } }]
  tcp: [{ route: [{ destination: { host: db, subset: primary } }] }]
  tls: [{ match: [{ sniHosts: [db.example] }], route: [{ destination: { host: vault } }] }]
`),
    ).toEqual([
      ['IST0101', 'spec.http[0].mirror.host', 'routes'],
      ['IST0101', 'spec.tcp[0].route[0].destination.subset', 'routes'],
      ['IST0101', 'spec.tls[0].route[0].destination.host', 'routes'],
      ['IST0132', 'spec.hosts', 'routes'],
    ]);
  });

  it('a VirtualService that does not decode is one schema error (IST0106) and nothing else', () => {
    expect(
      found(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: typo, namespace: shop }
spec:
  hosts: [db]
  tcp: [{ route: [{ destination: { host: nowhere }, weight: "100" }] }]
`),
    ).toEqual([['IST0106', 'spec.tcp[0].route[0].weight', 'typo']]);
  });
});
