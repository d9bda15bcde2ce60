import { describe, expect, it } from 'vitest';
import type { HttpRoute, VirtualHost } from '../../core/model/l7.js';
import { compileRouteMatch } from './match.js';
import { buildRequestView, type RequestView } from './request-view.js';
import { pickDestination, RouteTable } from './route-table.js';

function req(
  over: Partial<{
    method: string;
    url: string;
    authority: string;
    headers: Record<string, string>;
    port: number;
    labels: Record<string, string>;
    ns: string;
  }> = {},
): RequestView {
  return buildRequestView({
    method: over.method ?? 'GET',
    url: over.url ?? '/',
    authority: over.authority ?? 'customer-service:8080',
    headers: over.headers ?? {},
    port: over.port ?? 8080,
    source: { ip: '10.244.0.5', port: 40000, labels: over.labels, namespace: over.ns },
  });
}

const dest = (subset: string, weight: number) => ({
  host: 'customer-service.coffee-shop.svc.cluster.local',
  subset,
  port: 8080,
  weight,
  cluster: `outbound|8080|${subset}|customer-service.coffee-shop.svc.cluster.local`,
});

function route(over: Partial<HttpRoute>): HttpRoute {
  return { source: 'coffee-shop/customer', matches: [], destinations: [dest('v1', 100)], ...over };
}

describe('route matching', () => {
  it('ANDs conditions in one block and ORs blocks; no block matches all', () => {
    const r = compileRouteMatch(
      route({
        matches: [
          { uri: { type: 'prefix', value: '/api' }, method: { type: 'exact', value: 'GET' } },
          { headers: { 'user-agent': { type: 'regex', value: '.*Firefox.*' } } },
        ],
      }),
    );
    expect(r(req({ url: '/api/x' }))).toBe(true);
    expect(r(req({ url: '/api/x', method: 'POST' }))).toBe(false);
    expect(r(req({ url: '/other', headers: { 'User-Agent': 'Mozilla/5.0 Firefox/120' } }))).toBe(true);
    expect(r(req({ url: '/other', headers: { 'user-agent': 'curl/8' } }))).toBe(false);
    expect(compileRouteMatch(route({ matches: [] }))(req())).toBe(true);
  });

  it('regex must match the whole value; exact, prefix, query params, authority, ignoreUriCase', () => {
    expect(compileRouteMatch(route({ matches: [{ uri: { type: 'regex', value: '/a' } }] }))(req({ url: '/ab' }))).toBe(
      false,
    );
    expect(
      compileRouteMatch(route({ matches: [{ uri: { type: 'exact', value: '/pay' } }] }))(req({ url: '/pay?x=1' })),
    ).toBe(true);
    expect(
      compileRouteMatch(route({ matches: [{ queryParams: { v: { type: 'exact', value: '2' } } }] }))(
        req({ url: '/?v=2' }),
      ),
    ).toBe(true);
    expect(
      compileRouteMatch(route({ matches: [{ queryParams: { v: { type: 'exact', value: '2' } } }] }))(
        req({ url: '/?v=3' }),
      ),
    ).toBe(false);
    expect(
      compileRouteMatch(route({ matches: [{ authority: { type: 'exact', value: 'shop.example' } }] }))(
        req({ authority: 'shop.example:80' }),
      ),
    ).toBe(true);
    expect(
      compileRouteMatch(route({ matches: [{ uri: { type: 'prefix', value: '/API' }, ignoreUriCase: true }] }))(
        req({ url: '/api/v1' }),
      ),
    ).toBe(true);
  });

  it('withoutHeaders, sourceLabels, sourceNamespace and port', () => {
    const r = compileRouteMatch(
      route({
        matches: [
          {
            withoutHeaders: { 'x-debug': { type: 'exact', value: '1' } },
            sourceLabels: { app: 'web' },
            sourceNamespace: 'shop',
            port: 8080,
          },
        ],
      }),
    );
    expect(r(req({ labels: { app: 'web', version: 'v1' }, ns: 'shop' }))).toBe(true);
    expect(r(req({ labels: { app: 'web' }, ns: 'shop', headers: { 'x-debug': '1' } }))).toBe(false);
    expect(r(req({ labels: { app: 'other' }, ns: 'shop' }))).toBe(false);
    expect(r(req({ labels: { app: 'web' }, ns: 'other' }))).toBe(false);
    expect(r(req({ labels: { app: 'web' }, ns: 'shop', port: 9090 }))).toBe(false);
  });
});

describe('route table', () => {
  const vhost: VirtualHost = {
    name: 'customer-service.coffee-shop.svc.cluster.local:8080',
    host: 'customer-service.coffee-shop.svc.cluster.local',
    port: 8080,
    protocol: 'http',
    domains: ['customer-service.coffee-shop.svc.cluster.local:8080', 'customer-service:8080', '10.96.0.7:8080'],
    vips: ['10.96.0.7'],
    routes: [
      route({ name: 'firefox', matches: [{ headers: { 'user-agent': { type: 'regex', value: '.*Firefox.*' } } }] }),
      route({ name: 'split', destinations: [dest('v1', 70), dest('v2', 30)] }),
    ],
  };
  const table = new RouteTable([vhost, { ...vhost, name: 'wild', domains: ['*.example.com:8080'], routes: [] }]);

  it('finds the virtual host by authority with or without port, by VIP, and by wildcard', () => {
    expect(table.findVirtualHost('customer-service:8080', 8080)?.vhost.name).toBe(vhost.name);
    expect(table.findVirtualHost('CUSTOMER-SERVICE', 8080)?.vhost.name).toBe(vhost.name);
    expect(table.findVirtualHost('10.96.0.7:8080', 8080)?.vhost.name).toBe(vhost.name);
    expect(table.findVirtualHost('api.example.com:8080', 8080)?.vhost.name).toBe('wild');
    expect(table.findVirtualHost('unknown:8080', 8080)).toBeUndefined();
  });

  it('first matching route wins and weights split 70/30', () => {
    const v = table.findVirtualHost('customer-service:8080', 8080)!;
    expect(table.findRoute(v, req({ headers: { 'user-agent': 'Firefox' } }))?.route.name).toBe('firefox');
    const split = table.findRoute(v, req())!;
    expect(split.route.name).toBe('split');
    expect(pickDestination(split, 0.0)?.subset).toBe('v1');
    expect(pickDestination(split, 0.6999)?.subset).toBe('v1');
    expect(pickDestination(split, 0.7)?.subset).toBe('v2');
    expect(pickDestination(split, 0.9999)?.subset).toBe('v2');
    let v2 = 0;
    for (let i = 0; i < 2000; i++) if (pickDestination(split)?.subset === 'v2') v2++;
    expect(v2).toBeGreaterThan(2000 * 0.25);
    expect(v2).toBeLessThan(2000 * 0.35);
  });
});
