// L7 routing through a real waypoint: every behaviour checked by a test that fails without it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCa } from '../support/pki.js';
import { HOST, to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';

describe('waypoint routing', () => {
  const h = { w: undefined as unknown as WaypointHarness };

  beforeAll(async () => {
    const w = new WaypointHarness(await testCa());
    await w.startPods([
      { name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } },
      { name: 'customer-v2', labels: { app: 'customer-service', version: 'v2' } },
    ]);
    const v1 = (p: { labels: Record<string, string> }) => p.labels.version === 'v1';
    const v2 = (p: { labels: Record<string, string> }) => p.labels.version === 'v2';
    await w.startWaypoint(
      waypointConfig(
        [
          {
            source: 'coffee-shop/customer',
            name: 'firefox',
            matches: [{ headers: { 'user-agent': { type: 'regex', value: '.*Firefox.*' } } }],
            destinations: [to('v1')],
          },
          {
            source: 'coffee-shop/customer',
            name: 'old-api',
            matches: [{ uri: { type: 'prefix', value: '/old' } }],
            redirect: { uri: '/new', code: 301 },
          },
          {
            source: 'coffee-shop/customer',
            name: 'moved',
            matches: [{ uri: { type: 'exact', value: '/gone' } }],
            redirect: { uri: '/here', authority: 'shop.example', code: 308 },
          },
          {
            source: 'coffee-shop/customer',
            name: 'rewrite',
            matches: [{ uri: { type: 'prefix', value: '/api/v1/' } }],
            rewrite: { uri: '/' },
            destinations: [to('v1')],
          },
          {
            source: 'coffee-shop/customer',
            name: 'headers',
            matches: [{ uri: { type: 'prefix', value: '/headers' } }],
            destinations: [to('v1')],
            headers: {
              request: { set: { 'x-mesh': 'ambit' }, remove: ['x-api-key'] },
              response: { add: { 'x-served-through': 'waypoint' } },
            },
          },
          {
            source: 'coffee-shop/customer',
            name: 'mirror',
            matches: [{ uri: { type: 'prefix', value: '/mirror' } }],
            destinations: [to('v1')],
            mirror: { host: HOST, subset: 'v2', port: 18080, cluster: to('v2').cluster },
            mirrorPercentage: 100,
          },
          {
            source: 'coffee-shop/customer',
            name: 'abort',
            matches: [{ uri: { type: 'prefix', value: '/abort' } }],
            destinations: [to('v1')],
            fault: { abort: { httpStatus: 418, percentage: 30 } },
          },
          {
            source: 'coffee-shop/customer',
            name: 'delay',
            matches: [{ uri: { type: 'prefix', value: '/delay' } }],
            destinations: [to('v1')],
            fault: { delay: { fixedDelayMs: 300, percentage: 100 } },
          },
          {
            source: 'coffee-shop/customer',
            name: 'timeout',
            matches: [{ uri: { type: 'prefix', value: '/slow' } }],
            destinations: [to('v1')],
            timeoutMs: 200,
          },
          { source: 'coffee-shop/customer', name: 'split', matches: [], destinations: [to('v1', 70), to('v2', 30)] },
        ],
        [w.cluster(undefined, () => true), w.cluster('v1', v1), w.cluster('v2', v2)],
      ),
    );
    h.w = w;
  });
  afterAll(async () => {
    await h.w?.close();
  });

  it('splits 70/30 between subsets over 2000 requests', async () => {
    const counts = { v1: 0, v2: 0 };
    const batch = async () => {
      const r = await h.w.request({ path: '/split' });
      expect(r.status).toBe(200);
      if (r.body.includes('127.0.0.30')) counts.v1++;
      else counts.v2++;
    };
    for (let i = 0; i < 2000; i += 50) await Promise.all(Array.from({ length: 50 }, batch));
    expect(counts.v1 + counts.v2).toBe(2000);
    expect(counts.v2 / 2000).toBeGreaterThan(0.25);
    expect(counts.v2 / 2000).toBeLessThan(0.35);
  });

  it('sends Firefox to v1 only', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await h.w.request({
        headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' },
      });
      expect(r.body).toContain('127.0.0.30');
    }
  });

  it('redirects with 301 and a Location, and with a configured code and authority', async () => {
    const r = await h.w.request({ path: '/old/menu?x=1' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`http://customer-service:18080/new?x=1`);
    const moved = await h.w.request({ path: '/gone' });
    expect(moved.status).toBe(308);
    expect(moved.headers.location).toBe('http://shop.example/here');
    expect(h.w.pods.every((p) => !p.seen.some((s) => s.url.startsWith('/old') || s.url === '/gone'))).toBe(true);
  });

  it('rewrites the prefix; the app sees the new path', async () => {
    const r = await h.w.request({ path: '/api/v1/orders?id=7' });
    expect(r.status).toBe(200);
    expect(h.w.pods[0]!.seen.at(-1)?.url).toBe('/orders?id=7');
  });

  it('sets and removes request headers and adds response headers', async () => {
    const r = await h.w.request({ path: '/headers', headers: { 'x-api-key': 'secret', 'x-keep': 'yes' } });
    expect(r.headers['x-served-through']).toBe('waypoint');
    const seen = h.w.pods[0]!.seen.at(-1)!;
    expect(seen.headers['x-mesh']).toBe('ambit');
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['x-keep']).toBe('yes');
    expect(seen.headers['x-forwarded-client-cert']).toMatch(
      /URI=spiffe:\/\/cluster.local\/ns\/coffee-shop\/sa\/web-frontend/,
    );
  });

  it('mirrors to v2 while the answer comes from v1', async () => {
    const before = h.w.pods[1]!.seen.filter((s) => s.url.startsWith('/mirror')).length;
    for (let i = 0; i < 10; i++) {
      const r = await h.w.request({ path: `/mirror/${i}` });
      expect(r.body).toContain('127.0.0.30');
    }
    await new Promise((r) => setTimeout(r, 300));
    const copies = h.w.pods[1]!.seen.filter((s) => s.url.startsWith('/mirror'));
    expect(copies.length - before).toBe(10);
    expect(copies.at(-1)?.headers.host).toBe('customer-service-shadow');
  });

  it('aborts about 30% with the configured status', async () => {
    let aborted = 0;
    const n = 600;
    for (let i = 0; i < n; i += 50) {
      const rs = await Promise.all(Array.from({ length: 50 }, () => h.w.request({ path: '/abort' })));
      for (const r of rs)
        if (r.status === 418) aborted++;
        else expect(r.status).toBe(200);
    }
    expect(aborted / n).toBeGreaterThan(0.22);
    expect(aborted / n).toBeLessThan(0.38);
  });

  it('delays by the fixed delay', async () => {
    const t = performance.now();
    const r = await h.w.request({ path: '/delay' });
    expect(r.status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
  });

  it('answers 504 when the route timeout passes', async () => {
    h.w.pods[0]!.behaviour = (_req, res) => {
      setTimeout(() => {
        res.end('late');
      }, 1000);
    };
    try {
      const r = await h.w.request({ path: '/slow' });
      expect(r.status).toBe(504);
      expect(r.body).toBe('upstream request timeout');
    } finally {
      const { answerWithName } = await import('../support/waypoint-harness.js');
      h.w.pods[0]!.behaviour = answerWithName;
    }
  });

  it('answers 404 for an unknown host and keeps serving', async () => {
    const r = await h.w.request({ authority: 'nobody:18080' });
    expect(r.status).toBe(404);
    expect((await h.w.request({ path: '/split' })).status).toBe(200);
  });

  it('serves HTTP/2 inside the tunnel too', async () => {
    const r = await h.w.request({ h2: true, path: '/headers' });
    expect(r.status).toBe(200);
    expect(r.headers['x-served-through']).toBe('waypoint');
  });
});
