// Per-connection selection of VirtualService tcp/tls routes: match conditions, first match
// wins, tls before tcp when an SNI is known, and weights over many picks.
import { describe, expect, it } from 'vitest';
import { clusterName, type L4Route, type VirtualHost } from '../../core/model/l7.js';
import { routesBySni, selectL4Route } from './l4-routes.js';

const dest = (host: string, weight = 100, subset?: string) => ({
  host,
  port: 5432,
  weight,
  cluster: clusterName(host, 5432, subset),
  ...(subset ? { subset } : {}),
});

const route = (name: string, matches: L4Route['matches'], destinations: L4Route['destinations']): L4Route => ({
  source: 'shop/db',
  name,
  matches,
  destinations,
});

function vhost(tcpRoutes: L4Route[], tlsRoutes: L4Route[] = []): VirtualHost {
  return {
    name: 'db.shop.svc.cluster.local:5432',
    host: 'db.shop.svc.cluster.local',
    port: 5432,
    protocol: 'tcp',
    domains: [],
    vips: ['10.96.0.9'],
    routes: [],
    ...(tcpRoutes.length ? { tcpRoutes } : {}),
    ...(tlsRoutes.length ? { tlsRoutes } : {}),
  };
}

const conn = { port: 5432, destinationIp: '10.96.0.9' };

describe('selectL4Route', () => {
  it('matches port, destination subnet, source labels and namespace; first match wins', () => {
    const v = vhost([
      route('port', [{ port: 9999 }], [dest('a')]),
      route('subnet', [{ destinationSubnets: ['10.97.0.0/16'] }], [dest('b')]),
      route('labels', [{ sourceLabels: { app: 'web' }, sourceNamespace: 'shop' }], [dest('c')]),
      route('ns-or-subnet', [{ sourceNamespace: 'other' }, { destinationSubnets: ['10.96.0.0/24'] }], [dest('d')]),
    ]);
    const pick = (c: Parameters<typeof selectL4Route>[1]) => selectL4Route(v, c)?.route.name;
    expect(pick({ ...conn, sourceLabels: { app: 'web', v: '1' }, sourceNamespace: 'shop' })).toBe('labels');
    expect(pick({ ...conn, sourceLabels: { app: 'web' }, sourceNamespace: 'other' })).toBe('ns-or-subnet');
    expect(pick({ ...conn, destinationIp: '10.97.1.1' })).toBe('subnet');
    expect(pick({ ...conn, port: 9999 })).toBe('port');
    expect(pick({ port: 5432, destinationIp: '10.98.0.1' })).toBeUndefined();
  });

  it('tls routes by SNI (exact and wildcard) before tcp routes; no SNI falls to tcp routes', () => {
    const v = vhost(
      [route('tcp', [], [dest('plain')])],
      [
        route('exact', [{ sniHosts: ['db.example'] }], [dest('exact')]),
        route('wild', [{ sniHosts: ['*.shop.example'], port: 5432 }], [dest('wild')]),
      ],
    );
    expect(routesBySni(v)).toBe(true);
    expect(routesBySni(vhost([route('tcp', [], [dest('plain')])]))).toBe(false);
    const host = (serverName?: string) =>
      selectL4Route(v, { ...conn, ...(serverName ? { serverName } : {}) })?.destination.host;
    expect(host('db.example')).toBe('exact');
    expect(host('a.b.shop.example')).toBe('wild');
    expect(host('shop.example')).toBe('plain');
    expect(host(undefined)).toBe('plain');
  });

  it('weights: each destination gets its share of the total, exactly at the boundaries', () => {
    const v = vhost([route('split', [], [dest('a', 80), dest('b', 20, 'v2'), dest('zero', 0)])]);
    const at = (r: number) => selectL4Route(v, conn, () => r)?.destination.cluster;
    expect(at(0)).toBe(clusterName('a', 5432));
    expect(at(0.7999)).toBe(clusterName('a', 5432));
    expect(at(0.8)).toBe(clusterName('b', 5432, 'v2'));
    expect(at(0.9999)).toBe(clusterName('b', 5432, 'v2'));
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const h = selectL4Route(v, conn)?.destination.host ?? '-';
      counts.set(h, (counts.get(h) ?? 0) + 1);
    }
    // 10,000 draws at p = 0.8: sd = 40, so ±400 is ten standard deviations.
    expect(Math.abs((counts.get('a') ?? 0) - 8000)).toBeLessThan(400);
    expect(counts.get('zero')).toBeUndefined();
  });
});
