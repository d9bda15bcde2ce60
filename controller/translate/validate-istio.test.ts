// Istio's documented validation rules as tables: configurations Istio accepts must translate
// without rejection; those it refuses (or that `kubectl --validate=strict` refuses for an
// unknown field) are rejected on the field Istio blames.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';

const NS = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
`;

const ap = (spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
const vs = (spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
const se = (spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
const pa = (spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
const ra = (spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
const dr = (spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
const sidecar = (spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: obj, namespace: shop }\nspec:\n${indent(spec)}`;
function indent(text: string): string {
  return text.replace(/^/gm, '  ') + '\n';
}

const VALID: { name: string; yaml: string }[] = [
  { name: 'AP source.serviceAccounts', yaml: ap('rules: [{ from: [{ source: { serviceAccounts: [shop/order] } }] }]') },
  {
    name: 'AP trustDomains and notTrustDomains',
    yaml: ap('rules: [{ from: [{ source: { trustDomains: [td1], notTrustDomains: [td2] } }] }]'),
  },
  {
    name: 'AP condition source.trustDomain',
    yaml: ap('rules: [{ when: [{ key: source.trustDomain, values: [td1] }] }]'),
  },
  { name: 'AP free-form principal', yaml: ap('rules: [{ from: [{ source: { principals: [my-legacy-identity] } }] }]') },
  {
    name: 'AP principal with spiffe://',
    yaml: ap('rules: [{ from: [{ source: { principals: ["spiffe://cluster.local/ns/a/sa/b"] } }] }]'),
  },
  { name: 'AP path template {*}', yaml: ap('rules: [{ to: [{ operation: { paths: ["/api/{*}/reviews"] } }] }]') },
  { name: 'AP path template {**}', yaml: ap('rules: [{ to: [{ operation: { paths: ["/api/{**}"] } }] }]') },
  {
    name: 'VS weights not summing to 100',
    yaml: vs(
      'hosts: [reviews]\nhttp: [{ route: [{ destination: { host: reviews }, weight: 3 }, { destination: { host: reviews }, weight: 1 }] }]',
    ),
  },
  { name: 'VS delegate without hosts', yaml: vs('http: [{ route: [{ destination: { host: reviews } }] }]') },
  {
    name: 'VS *.-prefixed destination host',
    yaml: vs('hosts: [reviews]\nhttp: [{ route: [{ destination: { host: "*.example.com" } }] }]'),
  },
  {
    name: 'VS subset no DestinationRule defines (kept; route fails at run time)',
    yaml: vs('hosts: [reviews]\nhttp: [{ route: [{ destination: { host: reviews, subset: v9 } }] }]'),
  },
  {
    name: 'SE lowercase protocol',
    yaml: se('hosts: [api.example.com]\nports: [{ number: 80, name: http, protocol: http }]\nresolution: DNS'),
  },
  {
    name: 'SE empty protocol',
    yaml: se('hosts: [api.example.com]\nports: [{ number: 80, name: tcp, protocol: "" }]\nresolution: DNS'),
  },
  { name: 'SE host *x', yaml: se('hosts: ["*x"]\nports: [{ number: 80, name: http, protocol: HTTP }]') },
  {
    name: 'RA jwtRule with jwksUri and no issuer',
    yaml: ra('jwtRules: [{ jwksUri: "https://example.com/jwks.json" }]'),
  },
  { name: 'PA mtls STRICT', yaml: pa('mtls: { mode: STRICT }') },
  {
    name: 'Sidecar workloadSelector.labels',
    yaml: sidecar('workloadSelector: { labels: { app: reviews } }\negress: [{ hosts: ["./*"] }]'),
  },
  {
    name: 'DR workloadSelector.matchLabels',
    yaml: dr('host: reviews\nworkloadSelector: { matchLabels: { app: reviews } }'),
  },
];

const INVALID: { name: string; yaml: string; field: string; reason: RegExp }[] = [
  { name: 'PA mTLS typo', yaml: pa('mTLS: { mode: STRICT }'), field: 'spec.mTLS', reason: /unknown field "mTLS"/ },
  {
    name: 'AP rule: for rules:',
    yaml: ap('action: DENY\nrule: [{ from: [{ source: { namespaces: [bad] } }] }]'),
    field: 'spec.rule',
    reason: /unknown field "rule"/,
  },
  {
    name: 'AP unknown source key',
    yaml: ap('rules: [{ from: [{ source: { principal: [a] } }] }]'),
    field: 'spec.rules[0].from[0].source.principal',
    reason: /unknown field/,
  },
  {
    name: 'VS unknown route key',
    yaml: vs(
      'hosts: [reviews]\nhttp: [{ routes: [{ destination: { host: reviews } }], route: [{ destination: { host: reviews } }] }]',
    ),
    field: 'spec.http[0].routes',
    reason: /unknown field "routes"/,
  },
  {
    name: 'DR unknown trafficPolicy key',
    yaml: dr('host: reviews\ntrafficPolicy: { loadbalancer: { simple: RANDOM } }'),
    field: 'spec.trafficPolicy.loadbalancer',
    reason: /unknown field/,
  },
  {
    name: 'top-level unknown key',
    yaml: `${pa('mtls: { mode: STRICT }')}specs: {}\n`,
    field: 'specs',
    reason: /unknown field "specs"/,
  },
  {
    name: 'AP serviceAccounts with principals',
    yaml: ap('rules: [{ from: [{ source: { serviceAccounts: [a/b], principals: [x] } }] }]'),
    field: 'spec.rules[0].from[0].source.serviceAccounts',
    reason: /cannot be set with principals/,
  },
  {
    name: 'AP serviceAccount without namespace',
    yaml: ap('rules: [{ from: [{ source: { serviceAccounts: [order] } }] }]'),
    field: 'spec.rules[0].from[0].source.serviceAccounts[0]',
    reason: /<namespace>\/<service-account>/,
  },
  {
    name: 'AP {**} not last',
    yaml: ap('rules: [{ to: [{ operation: { paths: ["/{**}/x"] } }] }]'),
    field: 'spec.rules[0].to[0].operation.paths[0]',
    reason: /last segment/,
  },
  {
    name: 'AP template mixed with text',
    yaml: ap('rules: [{ to: [{ operation: { paths: ["/a{*}"] } }] }]'),
    field: 'spec.rules[0].to[0].operation.paths[0]',
    reason: /template segment/,
  },
  {
    name: 'AP principal with inner wildcard',
    yaml: ap('rules: [{ from: [{ source: { principals: ["a/*/b"] } }] }]'),
    field: 'spec.rules[0].from[0].source.principals[0]',
    reason: /prefix or suffix/,
  },
  {
    name: 'VS negative weight',
    yaml: vs(
      'hosts: [reviews]\nhttp: [{ route: [{ destination: { host: reviews }, weight: -1 }, { destination: { host: reviews }, weight: 2 }] }]',
    ),
    field: 'spec.http[0].route[0].weight',
    reason: /non-negative/,
  },
  {
    name: 'VS all weights zero',
    yaml: vs(
      'hosts: [reviews]\nhttp: [{ route: [{ destination: { host: reviews }, weight: 0 }, { destination: { host: reviews }, weight: 0 }] }]',
    ),
    field: 'spec.http[0].route',
    reason: /total destination weight is 0/,
  },
  {
    name: 'VS delegate with gateways',
    yaml: vs('gateways: [gw]\nhttp: [{ route: [{ destination: { host: reviews } }] }]'),
    field: 'spec.gateways',
    reason: /delegate/,
  },
  {
    name: 'VS destination host *',
    yaml: vs('hosts: [reviews]\nhttp: [{ route: [{ destination: { host: "*" } }] }]'),
    field: 'spec.http[0].route[0].destination.host',
    reason: /not allowed/,
  },
  {
    name: 'VS bad duration',
    yaml: vs('hosts: [reviews]\nhttp: [{ route: [{ destination: { host: reviews } }], timeout: 1x }]'),
    field: 'spec.http[0].timeout',
    reason: /invalid duration/,
  },
  {
    name: 'SE unknown protocol',
    yaml: se('hosts: [api.example.com]\nports: [{ number: 80, name: x, protocol: SMTPX }]\nresolution: DNS'),
    field: 'spec.ports[0].protocol',
    reason: /unknown value/,
  },
  {
    name: 'SE port out of range',
    yaml: se('hosts: [api.example.com]\nports: [{ number: 70000, name: x, protocol: TCP }]\nresolution: DNS'),
    field: 'spec.ports[0].number',
    reason: /invalid port/,
  },
  {
    name: 'RA jwtRule without issuer or keys',
    yaml: ra('jwtRules: [{ audiences: [a] }]'),
    field: 'spec.jwtRules[0].issuer',
    reason: /required/,
  },
  { name: 'PA bad mode', yaml: pa('mtls: { mode: strict }'), field: 'spec.mtls.mode', reason: /unknown value/ },
  {
    name: 'Sidecar matchLabels (a security selector)',
    yaml: sidecar('workloadSelector: { matchLabels: { app: reviews } }\negress: [{ hosts: ["./*"] }]'),
    field: 'spec.workloadSelector.matchLabels',
    reason: /unknown field/,
  },
];

describe("validation with Istio's rules", () => {
  it.each(VALID)('accepts: $name', ({ yaml }) => {
    const result = translate(yamlObjects(`${NS}---\n${yaml}`));
    expect(result.rejected.map(formatRejection)).toEqual([]);
  });

  it.each(INVALID)('rejects: $name', ({ yaml, field, reason }) => {
    const result = translate(yamlObjects(`${NS}---\n${yaml}`));
    const mine = result.rejected.filter((r) => r.name === 'obj');
    const hit = mine.find((r) => r.field === field);
    expect(hit, `got: ${mine.map(formatRejection).join(' | ')}`).toBeDefined();
    expect(hit?.reason).toMatch(reason);
  });

  it('a route to an undefined subset has a cluster without endpoints (503), other routes keep theirs', () => {
    const result = translate(
      yamlObjects(`${NS}---
apiVersion: v1
kind: Pod
metadata: { name: reviews-1, namespace: shop, labels: { app: reviews, version: v1 } }
spec: { nodeName: n1 }
status: { podIP: 10.1.0.5 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: shop }
spec: { gatewayClassName: ambit-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: waypoint } }
---
${vs('hosts: [reviews]\nhttp:\n- match: [{ uri: { prefix: /v9 } }]\n  route: [{ destination: { host: reviews, subset: v9 } }]\n- route: [{ destination: { host: reviews } }]')}`),
    );
    const wp = result.waypoints.get('shop');
    expect(wp, result.rejected.map(formatRejection).join('\n')).toBeDefined();
    const clusters = wp?.clusters ?? [];
    const v9 = clusters.find((c) => c.subset === 'v9');
    expect(v9?.endpoints).toEqual([]);
    const plain = clusters.find((c) => c.host === 'reviews.shop.svc.cluster.local' && c.subset === undefined);
    expect(plain?.endpoints.length).toBeGreaterThan(0);
  });

  it('serviceAccounts and trustDomains become principal matches', () => {
    const result = translate(
      yamlObjects(
        `${NS}---\n${ap('rules:\n- from:\n  - source: { serviceAccounts: [shop/order] }\n  - source: { trustDomains: [td1] }')}`,
      ),
    );
    const policy = result.snapshot.authorizationPolicies.find((p) => p.name === 'obj');
    expect(policy?.rules).toEqual([
      { from: [{ principals: ['*/ns/shop/sa/order'] }] },
      { from: [{}], when: [{ key: 'source.principal', values: ['td1/*'] }] },
    ]);
  });
});
