// Gateway API routes with a Service parent (GAMMA) at the waypoint: HTTPRoute matches and
// filters one by one, precedence across rules and routes, VirtualService precedence, and
// GRPCRoute method matches, filters and refusals.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { MESH } from './testdata/mesh.js';
import type { HttpRoute } from '../../core/model/l7.js';

const HOST = 'reviews.shop.svc.cluster.local';

function routesOf(extra: string, port = 9080): { routes: readonly HttpRoute[]; rejected: string[] } {
  const result = translate(yamlObjects(`${MESH}---\n${extra}`));
  const wp = result.waypoints.get('shop');
  const routes = wp?.virtualHosts.find((v) => v.host === HOST && v.port === port)?.routes ?? [];
  return { routes, rejected: result.rejected.map(formatRejection) };
}

function httpRoute(rules: string, name = 'r', extra = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: shop${extra} }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews, port: 9080 }]
  rules:
${rules.replace(/^/gm, '    ')}
`;
}

function grpcRoute(rules: string, name = 'g'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: ${name}, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
${rules.replace(/^/gm, '    ')}
`;
}

/** The one route of a one-rule, one-match HTTPRoute. */
function one(rule: string): HttpRoute {
  const { routes, rejected } = routesOf(httpRoute(rule));
  expect(rejected).toEqual([]);
  expect(routes).toHaveLength(1);
  return routes[0]!;
}

describe('HTTPRoute with a Service parent: each match and filter', () => {
  it.each([
    ['Exact', { type: 'exact', value: '/a' }],
    ['RegularExpression', { type: 'regex', value: '/a' }],
  ])('path %s', (type, uri) => {
    const r = one(
      `- matches: [{ path: { type: ${type}, value: /a } }]\n  backendRefs: [{ name: reviews, port: 9080 }]`,
    );
    expect(r.matches).toEqual([{ uri }]);
  });

  it('path PathPrefix matches whole elements: /a and /a/..., never /ab (a trailing / ignored)', () => {
    for (const value of ['/a', '/a/']) {
      const { routes } = routesOf(
        httpRoute(
          `- matches: [{ path: { type: PathPrefix, value: ${value} } }]\n  backendRefs: [{ name: reviews, port: 9080 }]`,
        ),
      );
      expect(routes.map((r) => r.matches)).toEqual([
        [{ uri: { type: 'exact', value: '/a' } }],
        [{ uri: { type: 'prefix', value: '/a/' } }],
      ]);
    }
    const root = one(
      `- matches: [{ path: { type: PathPrefix, value: / } }]\n  backendRefs: [{ name: reviews, port: 9080 }]`,
    );
    expect(root.matches).toEqual([{ uri: { type: 'prefix', value: '/' } }]);
  });

  it('headers (names lower-cased), query params (case kept), method', () => {
    const r = one(`- matches:
    - headers: [{ name: X-User, value: jason }, { name: x-v, type: RegularExpression, value: "v[12]" }]
      queryParams: [{ name: Debug, value: "1" }]
      method: POST
  backendRefs: [{ name: reviews, port: 9080 }]`);
    expect(r.matches).toEqual([
      {
        method: { type: 'exact', value: 'POST' },
        headers: { 'x-user': { type: 'exact', value: 'jason' }, 'x-v': { type: 'regex', value: 'v[12]' } },
        queryParams: { Debug: { type: 'exact', value: '1' } },
      },
    ]);
  });

  it('RequestHeaderModifier and ResponseHeaderModifier', () => {
    const r = one(`- filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: { set: [{ name: x-a, value: "1" }], add: [{ name: x-b, value: "2" }], remove: [x-c] }
    - type: ResponseHeaderModifier
      responseHeaderModifier: { set: [{ name: x-r, value: "3" }] }
  backendRefs: [{ name: reviews, port: 9080 }]`);
    expect(r.headers).toEqual({
      request: { set: { 'x-a': '1' }, add: { 'x-b': '2' }, remove: ['x-c'] },
      response: { set: { 'x-r': '3' } },
    });
  });

  it('RequestRedirect: no destinations, the redirect fields', () => {
    const r = one(`- filters:
    - type: RequestRedirect
      requestRedirect: { scheme: https, hostname: example.com, port: 8443, statusCode: 301, path: { type: ReplaceFullPath, replaceFullPath: /new } }`);
    expect(r.destinations).toBeUndefined();
    expect(r.redirect).toEqual({ scheme: 'https', authority: 'example.com', port: 8443, uri: '/new', code: 301 });
  });

  it('URLRewrite ReplacePrefixMatch replaces the matched elements; ReplaceFullPath the whole path', () => {
    const prefix = routesOf(
      httpRoute(`- matches: [{ path: { type: PathPrefix, value: /api } }]
  filters: [{ type: URLRewrite, urlRewrite: { hostname: other, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }]
  backendRefs: [{ name: reviews, port: 9080 }]`),
    ).routes;
    // /api → /v2, /api/x → /v2/x (the waypoint replaces an exact path whole, a prefix by its match)
    expect(prefix.map((r) => [r.matches[0]?.uri, r.rewrite])).toEqual([
      [
        { type: 'exact', value: '/api' },
        { uri: '/v2', authority: 'other' },
      ],
      [
        { type: 'prefix', value: '/api/' },
        { uri: '/v2/', authority: 'other' },
      ],
    ]);
    const toRoot = routesOf(
      httpRoute(`- matches: [{ path: { type: PathPrefix, value: /api } }]
  filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
  backendRefs: [{ name: reviews, port: 9080 }]`),
    ).routes;
    expect(toRoot.map((r) => r.rewrite?.uri)).toEqual(['/', '/']);
    const full = routesOf(
      httpRoute(`- matches: [{ path: { type: PathPrefix, value: /a.b } }]
  filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /x } } }]
  backendRefs: [{ name: reviews, port: 9080 }]`),
    ).routes;
    expect(full.map((r) => [r.matches[0]?.uri, r.rewrite])).toEqual([
      [{ type: 'exact', value: '/a.b' }, { uri: '/x' }],
      [{ type: 'regex', value: '/a\\.b/.*' }, { uri: '/x' }],
    ]);
  });

  it('RequestMirror to another Service', () => {
    const r = one(`- filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: ratings, port: 8080 } } }]
  backendRefs: [{ name: reviews, port: 9080 }]`);
    expect(r.mirror).toEqual({
      host: 'ratings.shop.svc.cluster.local',
      port: 8080,
      cluster: 'outbound|8080||ratings.shop.svc.cluster.local',
    });
  });

  it('weighted backendRefs become percentages; a weight 0 ref gets nothing', () => {
    const r = one(
      `- backendRefs: [{ name: reviews, port: 9080, weight: 90 }, { name: ratings, port: 8080, weight: 10 }, { name: reviews, port: 9090, weight: 0 }]`,
    );
    expect(r.destinations?.map((d) => [d.host, d.port, d.weight])).toEqual([
      [HOST, 9080, 90],
      ['ratings.shop.svc.cluster.local', 8080, 10],
    ]);
  });

  it('a backendRef to no Service answers 500 (Gateway API), not a cluster without endpoints', () => {
    const r = one(`- backendRefs: [{ name: nowhere, port: 80 }]`);
    expect(r.destinations).toBeUndefined();
    expect(r.directResponse).toEqual({ status: 500 });
  });

  it('a backendRef to another namespace needs a ReferenceGrant there (else 500), for this route kind and namespace', () => {
    const rule = `- backendRefs: [{ name: audit, namespace: other, port: 80 }]`;
    const grant = (
      fromKind: string,
      fromNs: string,
      to = '{ group: "", kind: Service }',
    ): string => `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g, namespace: other }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: ${fromKind}, namespace: ${fromNs} }]
  to: [${to}]
`;
    const target = (extra: string): HttpRoute => {
      const { routes, rejected } = routesOf(`${httpRoute(rule)}${extra}`);
      expect(rejected).toEqual([]);
      return routes[0]!;
    };
    expect(target('').directResponse).toEqual({ status: 500 });
    expect(target(`---\n${grant('GRPCRoute', 'shop')}`).directResponse).toEqual({ status: 500 });
    expect(target(`---\n${grant('HTTPRoute', 'elsewhere')}`).directResponse).toEqual({ status: 500 });
    expect(
      target(`---\n${grant('HTTPRoute', 'shop', '{ group: "", kind: Service, name: not-audit }')}`).directResponse,
    ).toEqual({
      status: 500,
    });
    expect(target(`---\n${grant('HTTPRoute', 'shop')}`).destinations?.map((d) => d.host)).toEqual([
      'audit.other.svc.cluster.local',
    ]);
    expect(
      target(`---\n${grant('HTTPRoute', 'shop', '{ group: "", kind: Service, name: audit }')}`).destinations?.map(
        (d) => d.host,
      ),
    ).toEqual(['audit.other.svc.cluster.local']);
  });

  it('a filter the waypoint cannot apply is refused, naming the field (never ignored)', () => {
    const { rejected } = routesOf(
      httpRoute(`- filters: [{ type: ExtensionRef, extensionRef: { group: x, kind: y, name: z } }]
  backendRefs: [{ name: reviews, port: 9080 }]`),
    );
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toContain('spec.rules[0].filters[0].type');
  });

  it('timeouts: request; backendRequest caps it (one try)', () => {
    expect(one(`- timeouts: { request: 3s }\n  backendRefs: [{ name: reviews, port: 9080 }]`).timeoutMs).toBe(3000);
    expect(
      one(`- timeouts: { request: 3s, backendRequest: 500ms }\n  backendRefs: [{ name: reviews, port: 9080 }]`)
        .timeoutMs,
    ).toBe(500);
    expect(one(`- timeouts: { backendRequest: 2s }\n  backendRefs: [{ name: reviews, port: 9080 }]`).timeoutMs).toBe(
      2000,
    );
  });
});

describe('precedence', () => {
  it('each match of a rule is a route; exact before longer prefix before shorter, method, headers, then age', () => {
    const older = httpRoute(
      `- matches: [{ path: { type: PathPrefix, value: /a } }, { path: { type: Exact, value: /a/b } }]
  backendRefs: [{ name: reviews, port: 9080 }]
- backendRefs: [{ name: reviews, port: 9080 }]`,
      'older',
      ', creationTimestamp: "2024-01-01T00:00:00Z"',
    );
    const newer = httpRoute(
      `- matches: [{ path: { type: PathPrefix, value: /a/long } }, { path: { type: PathPrefix, value: /a }, method: GET }]
  backendRefs: [{ name: ratings, port: 8080 }]
- matches: [{ path: { type: PathPrefix, value: /a }, headers: [{ name: x, value: "1" }] }]
  backendRefs: [{ name: ratings, port: 8080 }]
- matches: [{ path: { type: PathPrefix, value: /a } }]
  backendRefs: [{ name: ratings, port: 8080 }]`,
      'newer',
      ', creationTimestamp: "2025-01-01T00:00:00Z"',
    );
    const { routes, rejected } = routesOf(`${newer}---\n${older}`);
    expect(rejected).toEqual([]);
    // A PathPrefix is two routes (the path itself, then under it), ranked as the prefix written.
    expect(routes.map((r) => r.name)).toEqual([
      'shop/older#0.2', // Exact /a/b
      'shop/newer#0.0', // PathPrefix /a/long: /a/long
      'shop/newer#0.1', // and /a/long/
      'shop/newer#0.2', // /a + method
      'shop/newer#0.3',
      'shop/newer#1.0', // /a + a header
      'shop/newer#1.1',
      'shop/older#0.0', // /a, the older route
      'shop/older#0.1',
      'shop/newer#2.0', // /a, the newer one
      'shop/newer#2.1',
      'shop/older#1', // no match: last
    ]);
  });

  it('an HTTPRoute on the Service replaces its VirtualService (Istio: Gateway API routes win at a waypoint)', () => {
    const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: shop }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: ratings } }] }]
`;
    expect(routesOf(vs).routes.map((r) => r.source)).toEqual(['shop/vs']);
    const both = routesOf(`${vs}---\n${httpRoute('- backendRefs: [{ name: reviews, port: 9080 }]')}`);
    expect(both.routes.map((r) => r.source)).toEqual(['HTTPRoute/shop/r']);
    // The port the HTTPRoute does not name keeps the VirtualService.
    expect(
      routesOf(`${vs}---\n${httpRoute('- backendRefs: [{ name: reviews, port: 9080 }]')}`, 9090).routes.map(
        (r) => r.source,
      ),
    ).toEqual(['shop/vs']);
  });
});

describe('GRPCRoute with a Service parent', () => {
  it('method matches become path matches', () => {
    const { routes, rejected } = routesOf(
      grpcRoute(`- matches: [{ method: { service: shop.Reviews, method: Get } }]
  backendRefs: [{ name: reviews, port: 9080 }]
- matches: [{ method: { service: shop.Reviews } }]
  backendRefs: [{ name: reviews, port: 9080 }]
- matches: [{ method: { method: Health } }]
  backendRefs: [{ name: reviews, port: 9080 }]
- matches: [{ method: { type: RegularExpression, service: "shop\\\\..*", method: "List.*" } }]
  backendRefs: [{ name: reviews, port: 9080 }]`),
    );
    expect(rejected).toEqual([]);
    expect(routes.map((r) => [r.source, r.matches[0]?.uri])).toEqual([
      ['GRPCRoute/shop/g', { type: 'exact', value: '/shop.Reviews/Get' }],
      ['GRPCRoute/shop/g', { type: 'prefix', value: '/shop.Reviews/' }],
      ['GRPCRoute/shop/g', { type: 'regex', value: '/shop\\..*/List.*' }],
      ['GRPCRoute/shop/g', { type: 'regex', value: '/[^/]+/Health' }],
    ]);
  });

  it('header matches, header modifiers, mirror and weights', () => {
    const { routes } = routesOf(
      grpcRoute(`- matches: [{ headers: [{ name: X-Tenant, value: a }] }]
  filters:
    - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-via, value: gamma }] } }
    - { type: ResponseHeaderModifier, responseHeaderModifier: { remove: [x-internal] } }
    - { type: RequestMirror, requestMirror: { backendRef: { name: ratings, port: 8080 } } }
  backendRefs: [{ name: reviews, port: 9080, weight: 1 }, { name: ratings, port: 8080, weight: 3 }]`),
    );
    expect(routes).toHaveLength(1);
    expect(routes[0]?.matches).toEqual([{ headers: { 'x-tenant': { type: 'exact', value: 'a' } } }]);
    expect(routes[0]?.headers).toEqual({
      request: { set: { 'x-via': 'gamma' } },
      response: { remove: ['x-internal'] },
    });
    expect(routes[0]?.mirror?.host).toBe('ratings.shop.svc.cluster.local');
    expect(routes[0]?.destinations?.map((d) => d.weight)).toEqual([25, 75]);
  });

  it('HTTPRoute and GRPCRoute on one Service merge in one precedence order', () => {
    const { routes } = routesOf(
      `${httpRoute('- matches: [{ path: { type: PathPrefix, value: / } }]\n  backendRefs: [{ name: ratings, port: 8080 }]')}---\n${grpcRoute('- matches: [{ method: { service: s, method: M } }]\n  backendRefs: [{ name: reviews, port: 9080 }]')}`,
    );
    expect(routes.map((r) => r.source)).toEqual(['GRPCRoute/shop/g', 'HTTPRoute/shop/r']);
  });

  it.each([
    ['an empty method match', '- matches: [{ method: {} }]', 'spec.rules[0].matches[0].method'],
    [
      'an unknown method match type',
      '- matches: [{ method: { type: Prefix, service: s } }]',
      'spec.rules[0].matches[0].method.type',
    ],
    [
      'a bad regex',
      '- matches: [{ method: { type: RegularExpression, service: "(" } }]',
      'spec.rules[0].matches[0].method.service',
    ],
    ['a "/" in an exact name', '- matches: [{ method: { service: a/b } }]', 'spec.rules[0].matches[0].method.service'],
    [
      'a filter the waypoint cannot apply',
      '- filters: [{ type: ExtensionRef, extensionRef: { name: x } }]',
      'spec.rules[0].filters[0].type',
    ],
  ])('refuses %s, naming the field', (_what, rule, field) => {
    const { rejected } = routesOf(grpcRoute(rule));
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toContain('GRPCRoute');
    expect(rejected[0]).toContain(field);
  });
});
