// The coffee-shop plus the L7 behaviours of issue 6 (testdata/coffee-shop-l7): all accepted,
// and each behaviour lands in the waypoint config where the waypoint looks for it.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { loadTestdata } from './testdata/load.js';

describe('coffee-shop L7 examples', async () => {
  const objects = [...(await loadTestdata('coffee-shop')), ...(await loadTestdata('coffee-shop-l7'))];
  const result = translate(objects);
  const wp = result.waypoints.get('coffee-shop');
  const routesOf = (host: string) =>
    wp?.virtualHosts.find((v) => v.host === `${host}.coffee-shop.svc.cluster.local`)?.routes ?? [];
  const route = (host: string, name: string) => routesOf(host).find((r) => r.name === name);

  it('accepts everything', () => {
    expect(result.rejected.map(formatRejection)).toEqual([]);
  });

  it('order-service: redirect, rewrite, timeout, retries in order, then the default', () => {
    expect(routesOf('order-service').map((r) => r.name)).toEqual([
      'legacy-redirect',
      'api-rewrite',
      'slow-timeout',
      'flaky-retries',
      'default',
    ]);
    expect(route('order-service', 'legacy-redirect')?.redirect).toEqual({ uri: '/menu', code: 301 });
    expect(route('order-service', 'api-rewrite')?.rewrite).toEqual({ uri: '/' });
    expect(route('order-service', 'slow-timeout')?.timeoutMs).toBe(1000);
    expect(route('order-service', 'flaky-retries')?.retries).toEqual({
      attempts: 3,
      perTryTimeoutMs: 500,
      retryOn: ['5xx', 'connect-failure', 'reset'],
    });
    const cluster = wp?.clusters.find((c) => c.name === 'outbound|8080||order-service.coffee-shop.svc.cluster.local');
    expect(cluster?.trafficPolicy).toEqual({
      connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } },
      outlierDetection: {
        consecutive5xxErrors: 2,
        intervalMs: 1000,
        baseEjectionTimeMs: 5000,
        maxEjectionPercent: 100,
      },
    });
    expect(cluster?.endpoints).toHaveLength(2);
  });

  it('payment-service faults and inventory-service header edits', () => {
    expect(route('payment-service', 'abort-30')?.fault).toEqual({ abort: { httpStatus: 503, percentage: 30 } });
    expect(route('payment-service', 'delay-2s')?.fault).toEqual({ delay: { fixedDelayMs: 2000, percentage: 100 } });
    expect(route('inventory-service', 'headers')?.headers).toEqual({
      request: { set: { 'x-coffee-shop': 'ambit' }, remove: ['x-api-key'] },
      response: { add: { 'x-served-by': 'inventory' } },
    });
  });

  it('JWT rules and the L7 policies reach the waypoint', () => {
    expect(wp?.requestAuthentications.map((r) => [r.key, r.jwtRules[0]?.issuer])).toEqual([
      ['coffee-shop/rewards-jwt', 'https://auth.coffee-shop.example'],
    ]);
    expect(wp?.authorizationPolicies.map((p) => [p.name, p.action])).toEqual([
      ['audit-orders', 'AUDIT'],
      ['delete-only-admin', 'DENY'],
      ['payment-only-from-order', 'ALLOW'],
      ['rewards-need-jwt', 'DENY'],
    ]);
  });
});
