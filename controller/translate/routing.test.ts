// VirtualService field families → the waypoint's HttpRoutes, host matching and merge order,
// Gateway binding and Gateway API HTTPRoute.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { MESH } from './testdata/mesh.js';
import type { HttpRoute, WaypointConfig } from '../../core/model/l7.js';

function waypoint(extra: string): WaypointConfig {
  const result = translate(yamlObjects(`${MESH}---\n${extra}`));
  expect(result.rejected.map(formatRejection)).toEqual([]);
  const wp = result.waypoints.get('shop');
  if (!wp) throw new Error('no waypoint config');
  return wp;
}

function routes(wp: WaypointConfig, host = 'reviews.shop.svc.cluster.local', port = 9080): readonly HttpRoute[] {
  return wp.virtualHosts.find((v) => v.host === host && v.port === port)?.routes ?? [];
}

const vs = (name: string, hosts: string, http: string, extra = ''): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: shop${extra} }
spec:
  hosts: ${hosts}
  http:
${http.replace(/^/gm, '    ')}
`;

describe('VirtualService → routes', () => {
  it('every match condition: uri/headers/queryParams/authority/scheme/method, sourceLabels, port, withoutHeaders', () => {
    const wp = waypoint(
      vs(
        'r',
        '[reviews]',
        `- name: m
  match:
    - uri: { prefix: /api }
      method: { exact: GET }
      headers: { X-User: { exact: jason }, X-Any: {} }
      queryParams: { debug: { regex: "^(1|true)$" } }
      authority: { prefix: reviews }
      scheme: { exact: http }
      ignoreUriCase: true
    - sourceLabels: { app: frontend }
      sourceNamespace: web
      withoutHeaders: { x-canary: { exact: "1" } }
  route: [{ destination: { host: reviews } }]`,
      ),
    );
    expect(routes(wp)[0]?.matches).toEqual([
      {
        uri: { type: 'prefix', value: '/api' },
        method: { type: 'exact', value: 'GET' },
        headers: { 'x-user': { type: 'exact', value: 'jason' }, 'x-any': { type: 'regex', value: '.*' } },
        queryParams: { debug: { type: 'regex', value: '^(1|true)$' } },
        authority: { type: 'prefix', value: 'reviews' },
        scheme: { type: 'exact', value: 'http' },
        ignoreUriCase: true,
      },
      {
        sourceLabels: { app: 'frontend' },
        sourceNamespace: 'web',
        withoutHeaders: { 'x-canary': { type: 'exact', value: '1' } },
      },
    ]);
  });

  it('a match on a port applies only to that port; a route whose matches all exclude the port is dropped there', () => {
    const wp = waypoint(
      vs(
        'r',
        '[reviews]',
        `- name: admin-only
  match: [{ port: 9090 }]
  route: [{ destination: { host: reviews, port: { number: 9090 } } }]
- name: rest
  route: [{ destination: { host: reviews } }]`,
      ),
    );
    expect(routes(wp, undefined, 9090).map((r) => r.name)).toEqual(['admin-only', 'rest']);
    expect(routes(wp, undefined, 9080).map((r) => r.name)).toEqual(['rest']);
    // multi-port service, destination without port: the virtual host's own port
    expect(routes(wp, undefined, 9080)[0]?.destinations?.[0]).toMatchObject({
      port: 9080,
      cluster: 'outbound|9080||reviews.shop.svc.cluster.local',
    });
  });

  it('weighted subsets, per-destination headers, route headers, rewrite, timeout, retries, fault, mirror', () => {
    const wp = waypoint(
      vs(
        'r',
        '[reviews]',
        `- name: all
  route:
    - destination: { host: reviews, subset: v1 }
      weight: 75
      headers: { request: { set: { x-subset: v1 } } }
    - destination: { host: reviews, subset: v2 }
      weight: 25
      headers: { response: { add: { x-served-by: v2 } } }
  headers:
    request: { set: { x-env: prod }, add: { x-trace: on }, remove: [x-api-key] }
    response: { remove: [server] }
  rewrite: { uri: /v2/, authority: reviews-v2 }
  timeout: 1.5s
  retries: { attempts: 4, perTryTimeout: 250ms, retryOn: "gateway-error,connect-failure,reset,503", retryRemoteLocalities: true }
  fault:
    abort: { httpStatus: 503, percentage: { value: 30 } }
    delay: { fixedDelay: 2s, percentage: { value: 12.5 } }
  mirror: { host: ratings }
  mirrorPercentage: { value: 40 }`,
      ),
    );
    expect(routes(wp)[0]).toEqual({
      source: 'shop/r',
      name: 'all',
      matches: [],
      destinations: [
        {
          host: 'reviews.shop.svc.cluster.local',
          subset: 'v1',
          port: 9080,
          weight: 75,
          cluster: 'outbound|9080|v1|reviews.shop.svc.cluster.local',
          headers: { request: { set: { 'x-subset': 'v1' } } },
        },
        {
          host: 'reviews.shop.svc.cluster.local',
          subset: 'v2',
          port: 9080,
          weight: 25,
          cluster: 'outbound|9080|v2|reviews.shop.svc.cluster.local',
          headers: { response: { add: { 'x-served-by': 'v2' } } },
        },
      ],
      headers: {
        request: { set: { 'x-env': 'prod' }, add: { 'x-trace': 'on' }, remove: ['x-api-key'] },
        response: { remove: ['server'] },
      },
      rewrite: { uri: '/v2/', authority: 'reviews-v2' },
      timeoutMs: 1500,
      retries: {
        attempts: 4,
        perTryTimeoutMs: 250,
        retryOn: ['gateway-error', 'connect-failure', 'reset', '503'],
        retryRemoteLocalities: true,
      },
      fault: { abort: { httpStatus: 503, percentage: 30 }, delay: { fixedDelayMs: 2000, percentage: 12.5 } },
      mirror: {
        host: 'ratings.shop.svc.cluster.local',
        port: 8080,
        cluster: 'outbound|8080||ratings.shop.svc.cluster.local',
      },
      mirrorPercentage: 40,
    });
    // every cluster a route can reach exists, with subset endpoints
    const names = wp.clusters.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'outbound|9080|v1|reviews.shop.svc.cluster.local',
        'outbound|9080|v2|reviews.shop.svc.cluster.local',
        'outbound|8080||ratings.shop.svc.cluster.local',
      ]),
    );
    expect(wp.clusters.find((c) => c.subset === 'v2' && c.port === 9080)?.endpoints.map((e) => e.address)).toEqual([
      '10.0.0.2',
    ]);
  });

  it('fault without percentage applies to all requests; redirect defaults to 301', () => {
    const wp = waypoint(
      vs(
        'r',
        '[reviews]',
        `- match: [{ uri: { exact: /old } }]
  redirect: { uri: /new, authority: new.example.com, scheme: https }
- match: [{ uri: { exact: /moved } }]
  redirect: { uri: /x, redirectCode: 308 }
- route: [{ destination: { host: reviews } }]
  fault: { abort: { httpStatus: 418 }, delay: { fixedDelay: 100ms } }`,
      ),
    );
    const [old, moved, rest] = routes(wp);
    expect(old?.redirect).toEqual({ uri: '/new', authority: 'new.example.com', scheme: 'https', code: 301 });
    expect(old?.destinations).toBeUndefined();
    expect(moved?.redirect).toEqual({ uri: '/x', code: 308 });
    expect(rest?.fault).toEqual({
      abort: { httpStatus: 418, percentage: 100 },
      delay: { fixedDelayMs: 100, percentage: 100 },
    });
  });

  it('directResponse answers without an upstream', () => {
    const wp = waypoint(
      vs(
        'r',
        '[reviews]',
        `- match: [{ uri: { exact: /teapot } }]
  directResponse: { status: 418, body: { string: "short and stout" } }
- route: [{ destination: { host: reviews } }]`,
      ),
    );
    expect(routes(wp)[0]).toEqual({
      source: 'shop/r',
      name: 'shop/r#0',
      matches: [{ uri: { type: 'exact', value: '/teapot' } }],
      directResponse: { status: 418, body: 'short and stout' },
    });
  });

  it.each([
    ['short name in the VS namespace', '[reviews]', true],
    ['FQDN', '[reviews.shop.svc.cluster.local]', true],
    ['wildcard *.shop.svc.cluster.local', '["*.shop.svc.cluster.local"]', true],
    ['short name means another namespace when the VS lives elsewhere', '[reviews]', false, 'other'],
    ['a different host', '[ratings]', false],
  ])('host matching: %s', (_name, hosts, applies, ns = 'shop') => {
    const objects = yamlObjects(
      `${MESH}---\n${vs('r', hosts, '- name: custom\n  route: [{ destination: { host: reviews.shop.svc.cluster.local } }]').replace('namespace: shop', `namespace: ${ns}`)}`,
    );
    const wp = translate(objects).waypoints.get('shop');
    expect(routes(wp as WaypointConfig)[0]?.name === 'custom').toBe(applies);
  });

  it('the most specific host wins over a wildcard VirtualService', () => {
    const wp = waypoint(
      `${vs('wild', '["*.shop.svc.cluster.local"]', '- name: wild\n  route: [{ destination: { host: ratings } }]')}---\n${vs('exact', '[reviews]', '- name: exact\n  route: [{ destination: { host: reviews } }]')}`,
    );
    expect(routes(wp).map((r) => r.name)).toEqual(['exact']);
    expect(routes(wp, 'ratings.shop.svc.cluster.local', 8080).map((r) => r.name)).toEqual(['wild']);
  });

  it('exportTo hides a VirtualService from other namespaces', () => {
    const hidden = vs(
      'r',
      '[reviews.shop.svc.cluster.local]',
      '- name: hidden\n  route: [{ destination: { host: reviews.shop.svc.cluster.local } }]',
    )
      .replace('namespace: shop', 'namespace: other')
      .replace('spec:\n', 'spec:\n  exportTo: ["."]\n');
    const wp = waypoint(hidden);
    expect(routes(wp).map((r) => r.name)).toEqual(['default']);
  });

  it('a VirtualService bound to a gateway only does not route mesh traffic', () => {
    const wp = waypoint(
      vs('r', '[reviews]', '- name: edge\n  route: [{ destination: { host: reviews } }]').replace(
        'spec:\n',
        'spec:\n  gateways: [ingress]\n',
      ),
    );
    expect(routes(wp).map((r) => r.name)).toEqual(['default']);
  });

  it('no VirtualService: one default route per service port to the whole service', () => {
    const wp = waypoint('');
    expect(wp.virtualHosts.map((v) => v.name)).toEqual([
      'ratings.shop.svc.cluster.local:8080',
      'reviews.shop.svc.cluster.local:9080',
      'reviews.shop.svc.cluster.local:9090',
    ]);
    const vh = wp.virtualHosts[1];
    expect(vh?.domains).toEqual(
      expect.arrayContaining([
        'reviews',
        'reviews:9080',
        'reviews.shop',
        'reviews.shop.svc:9080',
        'reviews.shop.svc.cluster.local:9080',
        `${vh?.vips[0]}:9080`,
      ]),
    );
  });
});

describe('Gateway API HTTPRoute (GAMMA)', () => {
  it('an HTTPRoute with a Service parent replaces VirtualServices for that service', () => {
    const wp = waypoint(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews-split, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews, port: 9080 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2 }, headers: [{ name: X-Beta, value: "yes" }], method: GET }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-route, value: beta }], remove: [x-debug] }
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }
      backendRefs: [{ name: reviews, port: 9080, weight: 3 }, { name: ratings, port: 8080, weight: 1 }]
      timeouts: { request: 3s }
    - backendRefs: [{ name: reviews, port: 9080 }]
`);
    const r = routes(wp);
    // PathPrefix /v2 is two routes (/v2 itself, then /v2/...), then the catch-all rule.
    expect(r.map((x) => x.source)).toEqual([
      'HTTPRoute/shop/reviews-split',
      'HTTPRoute/shop/reviews-split',
      'HTTPRoute/shop/reviews-split',
    ]);
    expect(r[1]?.matches[0]?.uri).toEqual({ type: 'prefix', value: '/v2/' });
    expect(r[0]?.matches).toEqual([
      {
        uri: { type: 'exact', value: '/v2' },
        method: { type: 'exact', value: 'GET' },
        headers: { 'x-beta': { type: 'exact', value: 'yes' } },
      },
    ]);
    expect(r[0]?.destinations?.map((d) => [d.host, d.weight])).toEqual([
      ['reviews.shop.svc.cluster.local', 75],
      ['ratings.shop.svc.cluster.local', 25],
    ]);
    expect(r[0]?.headers).toEqual({ request: { set: { 'x-route': 'beta' }, remove: ['x-debug'] } });
    expect(r[0]?.rewrite).toEqual({ uri: '/' });
    expect(r[0]?.timeoutMs).toBe(3000);
    // the other port of the service is not a parent: default route there
    expect(routes(wp, undefined, 9090).map((x) => x.name)).toEqual(['default']);
  });
});
