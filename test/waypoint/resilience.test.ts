// Resilience through a real waypoint: retries, outlier detection, connection-pool limits,
// load balancers and locality, each checked by a test that fails without the behaviour.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpRoute, RetryPolicy, TrafficPolicy } from '../../core/model/l7.js';
import { testCa } from '../support/pki.js';
import {
  answerWithName,
  clientWorkload,
  HOST,
  APP_PORT,
  to,
  waypointConfig,
  WaypointHarness,
  type Behaviour,
  type Pod,
} from '../support/waypoint-harness.js';
import { clusterName } from '../../core/model/l7.js';
import { sleep } from '../support/wait.js';

/** A seeded PRNG (mulberry32) so load-balancer picks are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Answers `status` to the first `n` requests, then as usual. */
function failFirst(n: number, status: number): Behaviour {
  let left = n;
  return (req, res, body) => {
    if (left-- > 0) {
      res.writeHead(status);
      res.end(`failing ${status}`);
      return;
    }
    answerWithName(req, res, body);
  };
}

const always =
  (status: number): Behaviour =>
  (_req, res) => {
    res.writeHead(status);
    res.end(`always ${status}`);
  };

describe('waypoint resilience', () => {
  let w: WaypointHarness;
  let a: Pod;
  let b: Pod;
  let c: Pod;
  const route = (name: string, cluster: string, extra: Partial<HttpRoute> = {}): HttpRoute => ({
    source: 'coffee-shop/resilience',
    name,
    matches: [{ uri: { type: 'prefix', value: `/${name}/` } }],
    destinations: [to(cluster)],
    ...extra,
  });
  const retries = (retryOn: string[], attempts = 2, perTryTimeoutMs?: number): RetryPolicy => ({
    attempts,
    retryOn,
    ...(perTryTimeoutMs ? { perTryTimeoutMs } : {}),
  });
  const only =
    (...names: string[]) =>
    (p: Pod) =>
      names.includes(p.name);
  const served = (p: Pod, prefix: string) => p.seen.filter((s) => s.url.startsWith(prefix)).length;
  const reset = () => {
    for (const p of w.pods) p.behaviour = answerWithName;
  };

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods(
      [
        { name: 'a', labels: { app: 'customer-service' }, locality: { region: 'r1', zone: 'z1' } },
        { name: 'b', labels: { app: 'customer-service' }, locality: { region: 'r2', zone: 'z1' } },
        { name: 'c', labels: { app: 'customer-service' }, locality: { region: 'r3', zone: 'z1' } },
      ],
      60,
    );
    [a, b, c] = w.pods as [Pod, Pod, Pod];
    const rr: TrafficPolicy = { loadBalancer: { simple: 'ROUND_ROBIN' } };
    const outlier = (o: NonNullable<TrafficPolicy['outlierDetection']>): TrafficPolicy => ({
      loadBalancer: { simple: 'ROUND_ROBIN' },
      outlierDetection: { intervalMs: 100, baseEjectionTimeMs: 500, maxEjectionPercent: 100, ...o },
    });
    const dead = {
      ...w.cluster('dead', only('a'), rr),
      endpoints: [
        { address: '127.0.0.99', port: APP_PORT, identity: a.identity, labels: {}, hbone: true },
        ...w.cluster('dead', only('a')).endpoints,
      ],
    };
    const routes: HttpRoute[] = [
      route('r5xx', 'one', { retries: retries(['5xx'], 3) }),
      route('rgw', 'one', { retries: retries(['gateway-error'], 3) }),
      route('r4xx', 'one', { retries: retries(['retriable-4xx']) }),
      route('rcodes', 'one', { retries: retries(['retriable-status-codes', '418']) }),
      route('rreset', 'one', { retries: retries(['reset']) }),
      route('rnone', 'one', { retries: retries([], 0) }),
      route('rdefault', 'one'),
      route('rpertry', 'one', { retries: retries(['5xx'], 2, 150) }),
      route('rother', 'two', { retries: retries(['5xx'], 1) }),
      route('rconnect', 'dead', { retries: retries(['connect-failure'], 1) }),
      route('od5xx', 'od5xx', { retries: retries([], 0) }),
      route('odgw', 'odgw', { retries: retries([], 0) }),
      route('odmax', 'odmax', { retries: retries([], 0) }),
      route('odall', 'odall', { retries: retries([], 0) }),
      route('pool', 'pool'),
      route('h2max', 'h2max'),
      route('rr', 'rr'),
      route('random', 'random'),
      route('lr', 'lr'),
      route('hhdr', 'hhdr'),
      route('hcookie', 'hcookie'),
      route('hip', 'hip'),
      route('fo', 'fo', { retries: retries([], 0) }),
      route('dist', 'dist'),
    ];
    await w.startWaypoint(
      waypointConfig(routes, [
        w.cluster('one', only('a')),
        w.cluster('two', only('a', 'b'), { loadBalancer: { simple: 'RANDOM' } }),
        dead,
        w.cluster('od5xx', only('a', 'b'), outlier({ consecutive5xxErrors: 2, intervalMs: 200 })),
        w.cluster('odgw', only('a', 'b'), outlier({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 })),
        w.cluster('odmax', only('a', 'b', 'c'), outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 34 })),
        w.cluster('odall', only('a'), outlier({ consecutive5xxErrors: 1 })),
        w.cluster('pool', only('a'), {
          connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
        }),
        w.cluster('h2max', only('a'), { connectionPool: { http: { http2MaxRequests: 1 } } }),
        w.cluster('rr', only('a', 'b', 'c'), rr),
        w.cluster('random', only('a', 'b', 'c'), { loadBalancer: { simple: 'RANDOM' } }),
        w.cluster('lr', only('a', 'b', 'c'), { loadBalancer: { simple: 'LEAST_REQUEST' } }),
        w.cluster('hhdr', only('a', 'b', 'c'), { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } }),
        w.cluster('hcookie', only('a', 'b', 'c'), {
          loadBalancer: { consistentHash: { httpCookie: { name: 'session' } } },
        }),
        w.cluster('hip', only('a', 'b', 'c'), { loadBalancer: { consistentHash: { useSourceIp: true } } }),
        w.cluster('fo', only('a', 'b', 'c'), {
          loadBalancer: {
            simple: 'ROUND_ROBIN',
            localityLbSetting: { enabled: true, failover: [{ from: 'r1', to: 'r3' }] },
          },
          outlierDetection: {
            consecutive5xxErrors: 1,
            intervalMs: 100,
            baseEjectionTimeMs: 30_000,
            maxEjectionPercent: 100,
          },
        }),
        w.cluster('dist', only('a', 'b', 'c'), {
          loadBalancer: {
            localityLbSetting: { enabled: true, distribute: [{ from: 'r1/z1/*', to: { 'r1/z1/*': 20, 'r2/*': 80 } }] },
          },
        }),
      ]),
      {
        random: seeded(7),
        locality: { region: 'r1', zone: 'z1' },
        // useSourceIp hashes the client address, which comes from `forwarded` only for a known caller.
        workloads: Array.from({ length: 8 }, (_, k) => clientWorkload(`web-${k}`, `10.244.1.${k + 1}`)),
      },
    );
  });
  afterAll(async () => {
    await w?.close();
  });
  afterEach(() => reset());

  describe('retries', () => {
    it('recover a flaky upstream on 5xx and gateway-error, with one attempt each', async () => {
      a.behaviour = failFirst(2, 503);
      const r = await w.request({ path: '/r5xx/x' });
      expect(r.status).toBe(200);
      expect(served(a, '/r5xx/')).toBe(3);
      a.behaviour = failFirst(2, 502);
      expect((await w.request({ path: '/rgw/x' })).status).toBe(200);
      expect(served(a, '/rgw/')).toBe(3);
    });

    it('gateway-error does not retry a 500; no retry policy attempts once', async () => {
      a.behaviour = failFirst(1, 500);
      expect((await w.request({ path: '/rgw/500' })).status).toBe(500);
      expect(served(a, '/rgw/500')).toBe(1);
      a.behaviour = failFirst(1, 503);
      expect((await w.request({ path: '/rnone/x' })).status).toBe(503);
      expect(served(a, '/rnone/')).toBe(1);
      reset();
    });

    it('retriable-4xx retries 409 only; retriable-status-codes retries the listed codes', async () => {
      a.behaviour = failFirst(1, 409);
      expect((await w.request({ path: '/r4xx/a' })).status).toBe(200);
      a.behaviour = failFirst(1, 404);
      expect((await w.request({ path: '/r4xx/b' })).status).toBe(404);
      a.behaviour = failFirst(1, 418);
      expect((await w.request({ path: '/rcodes/a' })).status).toBe(200);
      expect(served(a, '/rcodes/a')).toBe(2);
      a.behaviour = failFirst(1, 500);
      expect((await w.request({ path: '/rcodes/b' })).status).toBe(500);
      reset();
    });

    it('reset retries a connection the upstream dropped before answering', async () => {
      let left = 1;
      a.behaviour = (req, res, body) => {
        if (left-- > 0) req.socket.destroy();
        else answerWithName(req, res, body);
      };
      const r = await w.request({ path: '/rreset/x' });
      expect(r.status).toBe(200);
      expect(served(a, '/rreset/')).toBe(2);
      reset();
    });

    it("uses Istio's default policy when the route sets none: 503 retried, 500 not", async () => {
      a.behaviour = failFirst(2, 503);
      expect((await w.request({ path: '/rdefault/a' })).status).toBe(200);
      expect(served(a, '/rdefault/a')).toBe(3);
      a.behaviour = failFirst(1, 500);
      expect((await w.request({ path: '/rdefault/b' })).status).toBe(500);
      expect(served(a, '/rdefault/b')).toBe(1);
      reset();
    });

    it('perTryTimeout cuts a slow attempt and retries', async () => {
      let left = 1;
      a.behaviour = (req, res, body) => {
        if (left-- > 0)
          setTimeout(() => {
            res.end('late');
          }, 1000);
        else answerWithName(req, res, body);
      };
      const r = await w.request({ path: '/rpertry/x' });
      expect(r.status).toBe(200);
      expect(r.body).toContain('hello from');
      expect(served(a, '/rpertry/')).toBe(2);
      reset();
    });

    it('a retry goes to a different endpoint when there is one', async () => {
      a.behaviour = always(500);
      for (let i = 0; i < 10; i++) expect((await w.request({ path: `/rother/${i}` })).status).toBe(200);
      // RANDOM sends about half the first attempts to a; each one's single retry went to b.
      expect(served(a, '/rother/')).toBeGreaterThan(0);
      expect(served(b, '/rother/')).toBe(10);
      reset();
    });

    it('connect-failure retries on another endpoint', async () => {
      for (let i = 0; i < 4; i++) expect((await w.request({ path: `/rconnect/${i}` })).status).toBe(200);
      expect(served(a, '/rconnect/')).toBe(4);
    });
  });

  describe('outlier detection', () => {
    const snap = (name: string) => w.runtime.clusters.get(clusterName(HOST, APP_PORT, name))!.snapshot();
    const ejected = (name: string, pod: Pod) => snap(name).find((e) => e.address.startsWith(`${pod.ip}:`))!;

    it('ejects after consecutive5xxErrors, brings the pod back after baseEjectionTime, longer each time', async () => {
      a.behaviour = always(500);
      for (let i = 0; i < 4; i++) await w.request({ path: `/od5xx/${i}` });
      expect(ejected('od5xx', a).ejected).toBe(true);
      const before = served(a, '/od5xx/');
      for (let i = 0; i < 6; i++) expect((await w.request({ path: `/od5xx/e${i}` })).status).toBe(200);
      expect(served(a, '/od5xx/')).toBe(before);
      // Traffic keeps flowing: after baseEjectionTime a is back, still fails, and is ejected
      // again for twice the base time.
      for (let i = 0; i < 300 && served(a, '/od5xx/') === before; i++) {
        await w.request({ path: `/od5xx/w${i}` });
        await sleep(10);
      }
      expect(served(a, '/od5xx/')).toBeGreaterThan(before);
      for (let i = 0; i < 6 && !ejected('od5xx', a).ejected; i++) await w.request({ path: `/od5xx/again${i}` });
      const second = ejected('od5xx', a);
      expect(second.ejected).toBe(true);
      expect(second.ejections).toBe(2);
      expect(second.ejectedForMs).toBeGreaterThan(500);
      reset();
    });

    it('consecutiveGatewayErrors counts 502/503/504 but not 500', async () => {
      a.behaviour = always(500);
      for (let i = 0; i < 6; i++) await w.request({ path: `/odgw/${i}` });
      expect(ejected('odgw', a).ejected).toBe(false);
      a.behaviour = always(503);
      for (let i = 0; i < 4; i++) await w.request({ path: `/odgw/g${i}` });
      expect(ejected('odgw', a).ejected).toBe(true);
      reset();
    });

    it('maxEjectionPercent bounds how many endpoints are out', async () => {
      a.behaviour = always(500);
      b.behaviour = always(500);
      for (let i = 0; i < 9; i++) await w.request({ path: `/odmax/${i}` });
      expect(snap('odmax').filter((e) => e.ejected)).toHaveLength(1);
      reset();
    });

    it('with every endpoint ejected the answer is 503 no healthy upstream (UH)', async () => {
      a.behaviour = always(500);
      expect((await w.request({ path: '/odall/1' })).status).toBe(500);
      const r = await w.request({ path: '/odall/2' });
      expect(r.status).toBe(503);
      expect(r.body).toBe('no healthy upstream');
      reset();
    });
  });

  describe('connection pool', () => {
    it('maxConnections + http1MaxPendingRequests: the overflow gets 503 UO', async () => {
      a.behaviour = (req, res, body) => {
        setTimeout(() => answerWithName(req, res, body), 800);
      };
      const rs = await Promise.all(Array.from({ length: 4 }, (_, i) => w.request({ path: `/pool/${i}` })));
      const codes = rs.map((r) => r.status).sort();
      expect(codes).toEqual([200, 200, 503, 503]);
      expect(rs.find((r) => r.status === 503)!.body).toContain('overflow');
      reset();
      expect((await w.request({ path: '/pool/after' })).status).toBe(200);
    });

    it('http2MaxRequests bounds concurrent requests', async () => {
      a.behaviour = (req, res, body) => {
        setTimeout(() => answerWithName(req, res, body), 800);
      };
      const rs = await Promise.all(Array.from({ length: 3 }, (_, i) => w.request({ path: `/h2max/${i}` })));
      expect(rs.map((r) => r.status).sort()).toEqual([200, 503, 503]);
      reset();
    });
  });

  describe('load balancing', () => {
    const whoServed = (body: string) => w.pods.find((p) => body.endsWith(p.ip))?.name;

    it('ROUND_ROBIN cycles through the endpoints', async () => {
      const order: Array<string | undefined> = [];
      for (let i = 0; i < 6; i++) order.push(whoServed((await w.request({ path: `/rr/${i}` })).body));
      expect(new Set(order.slice(0, 3)).size).toBe(3);
      expect(order.slice(3)).toEqual(order.slice(0, 3));
    });

    it('RANDOM uses every endpoint without a fixed cycle', async () => {
      const order: Array<string | undefined> = [];
      for (let i = 0; i < 24; i++) order.push(whoServed((await w.request({ path: `/random/${i}` })).body));
      expect(new Set(order).size).toBe(3);
      const cycles = order.every((p, i) => i < 3 || p === order[i - 3]);
      expect(cycles).toBe(false);
    });

    it('LEAST_REQUEST avoids the endpoint with requests in flight', async () => {
      const held: Array<() => void> = [];
      a.behaviour = (req, res, body) => {
        if (req.url?.startsWith('/lr/hold')) held.push(() => answerWithName(req, res, body));
        else answerWithName(req, res, body);
      };
      const slow = Array.from({ length: 12 }, (_, i) => w.request({ path: `/lr/hold${i}` }));
      for (let i = 0; i < 50 && held.length === 0; i++) await sleep(20);
      await sleep(100);
      expect(held.length).toBeGreaterThan(0);
      for (let i = 0; i < 60; i++) expect((await w.request({ path: `/lr/q${i}` })).status).toBe(200);
      const toA = served(a, '/lr/q');
      for (const release of held) release();
      await Promise.all(slow);
      // Power of two choices: a is picked only when both choices land on it (~1/9 of 60,
      // P(>= 14) < 1%); RANDOM or ROUND_ROBIN would give it about 20.
      expect(toA).toBeLessThan(14);
      reset();
    });

    it('consistentHash on a header, a cookie and the source IP keeps a key on one endpoint', async () => {
      const spread = async (make: (key: number) => Parameters<WaypointHarness['request']>[0]) => {
        const pods = new Set<string | undefined>();
        for (let key = 0; key < 8; key++) {
          const seen = new Set<string | undefined>();
          for (let i = 0; i < 3; i++) seen.add(whoServed((await w.request(make(key))).body));
          expect(seen.size).toBe(1);
          pods.add([...seen][0]);
        }
        return pods.size;
      };
      expect(await spread((k) => ({ path: '/hhdr/x', headers: { 'x-user': `user-${k}` } }))).toBeGreaterThan(1);
      expect(
        await spread((k) => ({ path: '/hcookie/x', headers: { cookie: `theme=dark; session=s${k}` } })),
      ).toBeGreaterThan(1);
      expect(await spread((k) => ({ path: '/hip/x', forwardedFor: `10.244.1.${k + 1}:40000` }))).toBeGreaterThan(1);
    });
  });

  describe('locality', () => {
    it('prefers the local zone and fails over to the configured region', async () => {
      for (let i = 0; i < 4; i++) expect(whoServedLocal((await w.request({ path: `/fo/${i}` })).body)).toBe('a');
      a.behaviour = always(500);
      await w.request({ path: '/fo/fail' });
      const after: Array<string | undefined> = [];
      for (let i = 0; i < 6; i++) after.push(whoServedLocal((await w.request({ path: `/fo/after${i}` })).body));
      expect(after).toEqual(['c', 'c', 'c', 'c', 'c', 'c']);
      expect(served(c, '/fo/after')).toBe(6);
      reset();
    });

    it('distribute splits by the configured locality weights', async () => {
      const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
      for (let i = 0; i < 40; i++) counts[whoServedLocal((await w.request({ path: `/dist/${i}` })).body) ?? 'none']!++;
      expect(counts.c).toBe(0);
      expect(counts.a).toBeGreaterThan(0);
      expect(counts.b).toBeGreaterThan(counts.a!);
    });

    function whoServedLocal(body: string): string | undefined {
      return w.pods.find((p) => body.endsWith(p.ip))?.name;
    }
  });
});
