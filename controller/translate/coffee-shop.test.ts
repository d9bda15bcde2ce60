import { describe, expect, it } from 'vitest';
import { translate, formatRejection } from './index.js';
import { loadTestdata } from './testdata/load.js';

describe('translate: coffee-shop example', async () => {
  const objects = await loadTestdata('coffee-shop');
  const result = translate(objects);
  const { snapshot } = result;

  it('accepts every object', () => {
    expect(result.rejected.map(formatRejection)).toEqual([]);
  });

  it('expands Deployments into enrolled workloads with SPIFFE identities and manifest IPs', () => {
    const order = snapshot.workloads.filter((w) => w.labels.app === 'order-service');
    expect(order.map((w) => w.name)).toEqual(['order-service-0', 'order-service-1']);
    expect(order.map((w) => w.ips[0])).toEqual(['10.244.0.10', '10.244.0.11']);
    expect(order[0]?.identity).toBe('spiffe://cluster.local/ns/coffee-shop/sa/order-service');
    expect(order.every((w) => w.enrolled)).toBe(true);
  });

  it('assigns VIPs from 10.96.0.0/16, deterministically and without collisions', () => {
    const vips = snapshot.services.map((s) => s.vips[0] ?? '');
    expect(vips.every((v) => v.startsWith('10.96.'))).toBe(true);
    expect(new Set(vips).size).toBe(vips.length);
    expect(translate(objects).snapshot.services.map((s) => s.vips[0])).toEqual(vips);
    expect(translate([...objects].reverse()).snapshot.version).toBe(snapshot.version);
  });

  it('resolves protocols and named target ports', () => {
    const payment = snapshot.services.find((s) => s.name === 'payment-service');
    expect(payment?.ports[0]).toMatchObject({ port: 8080, targetPort: 9090, protocol: 'http' });
    expect(snapshot.services.find((s) => s.name === 'inventory-service')?.ports[0]?.protocol).toBe('grpc');
    expect(snapshot.services.find((s) => s.name === 'web-frontend')?.ports[0]?.protocol).toBe('http');
  });

  it('routes services through the namespace waypoint, but not the waypoint itself', () => {
    const svc = snapshot.services.find((s) => s.name === 'order-service');
    expect(svc?.waypoint).toEqual({
      name: 'waypoint',
      namespace: 'coffee-shop',
      address: '10.244.0.100',
      identity: 'spiffe://cluster.local/ns/coffee-shop/sa/waypoint',
    });
    expect(snapshot.workloads.find((w) => w.name === 'waypoint-0')?.waypoint).toBeUndefined();
  });

  it('normalises PeerAuthentication and AuthorizationPolicy with their scopes', () => {
    expect(snapshot.peerAuthentications).toEqual([
      {
        key: 'coffee-shop/default',
        name: 'default',
        scope: { namespace: 'coffee-shop', level: 'namespace' },
        mode: 'STRICT',
      },
    ]);
    expect(snapshot.authorizationPolicies[0]).toMatchObject({
      key: 'coffee-shop/payment-only-from-order',
      action: 'ALLOW',
      scope: { level: 'workload', selector: { app: 'payment-service' } },
      rules: [{ from: [{ principals: ['cluster.local/ns/coffee-shop/sa/order-service'] }] }],
    });
  });

  it('builds the waypoint config: 70/30 split with subsets, Firefox match first', () => {
    const wp = result.waypoints.get('coffee-shop');
    expect(wp?.waypoint).toBe('waypoint');
    const vh = wp?.virtualHosts.find((v) => v.name === 'customer-service.coffee-shop.svc.cluster.local:8080');
    expect(vh?.domains).toContain('customer-service:8080');
    expect(vh?.routes.map((r) => r.name)).toEqual(['firefox', 'profile-mirror', 'split']);
    expect(vh?.routes[0]?.matches[0]?.headers?.['user-agent']).toEqual({ type: 'regex', value: '.*Firefox.*' });
    expect(vh?.routes[1]).toMatchObject({
      mirror: { subset: 'v2', cluster: 'outbound|8080|v2|customer-service.coffee-shop.svc.cluster.local' },
      mirrorPercentage: 100,
    });
    expect(vh?.routes[2]?.destinations?.map((d) => [d.subset, d.weight])).toEqual([
      ['v1', 70],
      ['v2', 30],
    ]);
    expect(vh?.routes[2]).toMatchObject({
      timeoutMs: 2000,
      retries: { attempts: 3, perTryTimeoutMs: 500, retryOn: ['5xx', 'connect-failure'] },
    });
    const v2 = wp?.clusters.find((c) => c.name === 'outbound|8080|v2|customer-service.coffee-shop.svc.cluster.local');
    expect(v2?.endpoints.map((e) => e.address)).toEqual(['10.244.0.41']);
    // subset policy overrides the load balancer, the DR-level pool/outlier settings still apply
    expect(v2?.trafficPolicy.loadBalancer).toEqual({ simple: 'ROUND_ROBIN' });
    expect(v2?.trafficPolicy.outlierDetection).toEqual({
      consecutive5xxErrors: 3,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 50,
    });
    const v1 = wp?.clusters.find((c) => c.name === 'outbound|8080|v1|customer-service.coffee-shop.svc.cluster.local');
    expect(v1?.trafficPolicy.loadBalancer).toEqual({ simple: 'LEAST_REQUEST' });
    expect(v1?.endpoints[0]).toMatchObject({
      address: '10.244.0.40',
      port: 8080,
      hbone: true,
      identity: 'spiffe://cluster.local/ns/coffee-shop/sa/customer-service',
    });
  });

  it('gives services without a VirtualService a default route and resolves named target ports per endpoint', () => {
    const wp = result.waypoints.get('coffee-shop');
    const vh = wp?.virtualHosts.find((v) => v.host === 'payment-service.coffee-shop.svc.cluster.local');
    expect(vh?.routes).toEqual([
      {
        source: 'default',
        name: 'default',
        matches: [],
        destinations: [
          {
            host: 'payment-service.coffee-shop.svc.cluster.local',
            port: 8080,
            weight: 100,
            cluster: 'outbound|8080||payment-service.coffee-shop.svc.cluster.local',
          },
        ],
      },
    ]);
    expect(
      wp?.clusters.find((c) => c.name === 'outbound|8080||payment-service.coffee-shop.svc.cluster.local')?.endpoints[0]
        ?.port,
    ).toBe(9090);
    expect(wp?.authorizationPolicies.map((p) => p.key)).toEqual(['coffee-shop/payment-only-from-order']);
  });
});
