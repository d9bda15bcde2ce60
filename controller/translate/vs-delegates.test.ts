// Delegate VirtualServices: a root's `http[].delegate` stands for the delegate's http routes,
// merged as Istio merges them (matches narrowed inside the root's, unset fields from the root,
// short names in the namespace that wrote them); a missing or unexported delegate drops that
// route alone.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { MESH } from './testdata/mesh.js';

const ROOT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: root, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - name: api
      match: [{ uri: { prefix: /api } }]
      delegate: { name: reviews-api, namespace: other }
      timeout: 2s
    - route: [{ destination: { host: reviews, subset: v1 } }]
`;

const delegate = (extra = '', http = ''): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-api, namespace: other }
spec:${extra}
  http:
    - name: v2
      match: [{ uri: { prefix: /api/v2 }, headers: { x-canary: { exact: "1" } } }]
      route: [{ destination: { host: reviews.shop.svc.cluster.local, subset: v2 } }]
      timeout: 5s
    - name: outside
      match: [{ uri: { prefix: /admin } }]
      route: [{ destination: { host: reviews.shop.svc.cluster.local } }]
    - route: [{ destination: { host: audit } }]
${http}`;

function reviewsRoutes(yaml: string) {
  const result = translate(yamlObjects(`${MESH}---\n${yaml}`));
  const routes = result.waypoints
    .get('shop')
    ?.virtualHosts.find((v) => v.host === 'reviews.shop.svc.cluster.local' && v.port === 9080)?.routes;
  return { rejected: result.rejected.map(formatRejection), routes: routes ?? [] };
}

describe('delegate VirtualServices', () => {
  it('merge into the root route: narrowed matches, root fields as defaults, a conflicting route left out', () => {
    const { rejected, routes } = reviewsRoutes(`${ROOT}---\n${delegate()}`);
    expect(rejected).toEqual([]);
    expect(
      routes.map((r) => ({
        name: r.name,
        matches: r.matches,
        to: r.destinations?.map((d) => `${d.host}/${d.subset ?? ''}`),
        timeoutMs: r.timeoutMs,
      })),
    ).toEqual([
      {
        name: 'api-v2',
        matches: [
          { uri: { type: 'prefix', value: '/api/v2' }, headers: { 'x-canary': { type: 'exact', value: '1' } } },
        ],
        to: ['reviews.shop.svc.cluster.local/v2'],
        timeoutMs: 5000,
      },
      // No match of its own: the root's; `audit` is a short name of the delegate's namespace.
      {
        name: 'api',
        matches: [{ uri: { type: 'prefix', value: '/api' } }],
        to: ['audit.other.svc.cluster.local/'],
        timeoutMs: 2000,
      },
      {
        name: 'shop/root#1',
        matches: [],
        to: ['reviews.shop.svc.cluster.local/v1'],
        timeoutMs: undefined,
      },
    ]);
  });

  it.each([
    ['missing', ''],
    ['not exported to the root namespace', delegate('\n  exportTo: ["."]')],
  ])('a delegate %s drops only the root route that names it', (_what, yaml) => {
    const { rejected, routes } = reviewsRoutes(`${ROOT}---\n${yaml}`);
    expect(rejected).toEqual([]);
    expect(routes.map((r) => r.name)).toEqual(['shop/root#1']);
  });

  it.each([
    ['tcp routes', delegate('\n  tcp: [{ route: [{ destination: { host: audit } }] }]'), 'spec.tcp', /no tcp routes/],
    [
      'a route that delegates again',
      delegate('', '    - delegate: { name: deeper }\n'),
      'spec.http[3].delegate',
      /cannot delegate again/,
    ],
  ])('a delegate VirtualService with %s is rejected', (_what, yaml, field, reason) => {
    const result = translate(yamlObjects(`${MESH}---\n${yaml}`));
    expect(result.rejected.map((r) => [r.name, r.field])).toEqual([['reviews-api', field]]);
    expect(result.rejected[0]?.reason).toMatch(reason);
  });
});
