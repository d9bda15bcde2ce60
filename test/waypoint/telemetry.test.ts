// Telemetry of a real waypoint: Istio's request metrics with the CONTRACT labels and the
// response flags of each kind of local answer, and one JSON access log line per request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setLogSink } from '../../core/log.js';
import type { HttpRoute } from '../../core/model/l7.js';
import { testCa } from '../support/pki.js';
import {
  answerWithName,
  APP_PORT,
  clientWorkload,
  HOST,
  to,
  waypointConfig,
  WaypointHarness,
} from '../support/waypoint-harness.js';

type Series = { labels: Record<string, string | number>; value: number; metricName?: string };

describe('waypoint telemetry', () => {
  let w: WaypointHarness;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 80);
    const pod = w.pods[0]!;
    const routes: HttpRoute[] = [
      {
        source: 'coffee-shop/t',
        name: 'ok',
        matches: [{ uri: { type: 'prefix', value: '/ok' } }],
        destinations: [to(undefined)],
      },
      {
        source: 'coffee-shop/t',
        name: 'abort',
        matches: [{ uri: { type: 'prefix', value: '/abort' } }],
        destinations: [to(undefined)],
        fault: { abort: { httpStatus: 418, percentage: 100 } },
      },
      {
        source: 'coffee-shop/t',
        name: 'pool',
        matches: [{ uri: { type: 'prefix', value: '/pool' } }],
        destinations: [to('pool')],
      },
      {
        source: 'coffee-shop/t',
        name: 'empty',
        matches: [{ uri: { type: 'prefix', value: '/empty' } }],
        destinations: [to('empty')],
      },
      {
        source: 'coffee-shop/t',
        name: 'dead',
        matches: [{ uri: { type: 'prefix', value: '/dead' } }],
        destinations: [to('dead')],
        retries: { attempts: 0, retryOn: [] },
      },
      {
        source: 'coffee-shop/t',
        name: 'urx',
        matches: [{ uri: { type: 'prefix', value: '/urx' } }],
        destinations: [to(undefined)],
        retries: { attempts: 1, retryOn: ['5xx'] },
      },
      {
        source: 'coffee-shop/t',
        name: 'slow',
        matches: [{ uri: { type: 'prefix', value: '/slow' } }],
        destinations: [to(undefined)],
        timeoutMs: 150,
      },
    ];
    await w.startWaypoint(
      waypointConfig(routes, [
        w.cluster(undefined, () => true),
        w.cluster('pool', () => true, { connectionPool: { http: { http2MaxRequests: 1 } } }),
        { ...w.cluster('empty', () => true), endpoints: [] },
        {
          ...w.cluster('dead', () => true),
          endpoints: [{ address: '127.0.0.97', port: APP_PORT, identity: pod.identity, labels: {}, hbone: true }],
        },
      ]),
      {
        accessLog: true,
        workloads: [
          clientWorkload('web-frontend-5d8f7c9b4-x2k9q', '10.244.0.9', 'web-frontend', {
            app: 'web-frontend',
            version: 'v3',
          }),
          clientWorkload('customer-v1-6c7d8f9b5-p4m2n', pod.ip, 'customer-v1', {
            app: 'customer-service',
            version: 'v1',
          }),
        ],
      },
    );
    setLogSink({
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>);
        return true;
      },
    });
  });
  afterAll(async () => {
    setLogSink(process.stderr);
    await w?.close();
  });

  const series = async (name: string): Promise<Series[]> => {
    const m = w.metrics.registry.getSingleMetric(name);
    return m ? ((await m.get()).values as Series[]) : [];
  };
  const find = async (name: string, labels: Record<string, string>): Promise<Series[]> =>
    (await series(name)).filter((s) => Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v));

  it('counts requests with the standard labels for source, destination and service', async () => {
    for (let i = 0; i < 3; i++) expect((await w.request({ path: '/ok' })).status).toBe(200);
    const [s] = await find('istio_requests_total', { response_code: '200', response_flags: '-' });
    expect(s?.value).toBe(3);
    expect(s?.labels).toMatchObject({
      reporter: 'waypoint',
      source_workload: 'web-frontend',
      source_workload_namespace: 'coffee-shop',
      source_app: 'web-frontend',
      source_version: 'v3',
      source_principal: 'spiffe://cluster.local/ns/coffee-shop/sa/web-frontend',
      destination_service: HOST,
      destination_service_name: 'customer-service',
      destination_service_namespace: 'coffee-shop',
      destination_workload: 'customer-v1',
      destination_workload_namespace: 'coffee-shop',
      destination_version: 'v1',
      destination_principal: 'spiffe://cluster.local/ns/coffee-shop/sa/customer-v1',
      request_protocol: 'http',
      connection_security_policy: 'mutual_tls',
    });
  });

  it('records duration and byte histograms for the same series', async () => {
    const body = 'x'.repeat(1500);
    expect((await w.request({ method: 'POST', path: '/ok/bytes', body })).status).toBe(200);
    const count = (await find('istio_request_duration_milliseconds', { response_code: '200' })).find((s) =>
      s.metricName?.endsWith('_count'),
    );
    expect(count?.value).toBe(4);
    const reqSum = (await find('istio_request_bytes', { response_code: '200' })).find((s) =>
      s.metricName?.endsWith('_sum'),
    );
    expect(reqSum?.value).toBeGreaterThanOrEqual(1500);
    const resSum = (await find('istio_response_bytes', { response_code: '200' })).find((s) =>
      s.metricName?.endsWith('_sum'),
    );
    expect(resSum?.value).toBeGreaterThanOrEqual(4 * 'hello from 127.0.0.80'.length);
  });

  it('carries the response flag of each local answer: FI, NR, UO, UH, UF, UT', async () => {
    expect((await w.request({ path: '/abort' })).status).toBe(418);
    expect((await w.request({ path: '/nowhere' })).status).toBe(404);
    expect((await w.request({ path: '/empty' })).status).toBe(503);
    expect((await w.request({ path: '/dead' })).status).toBe(503);
    const pod = w.pods[0]!;
    pod.behaviour = (req, res, b) => {
      setTimeout(() => answerWithName(req, res, b), 800);
    };
    const rs = await Promise.all([
      w.request({ path: '/pool/1' }),
      w.request({ path: '/pool/2' }),
      w.request({ path: '/slow' }),
    ]);
    pod.behaviour = answerWithName;
    expect(rs.map((r) => r.status).sort()).toEqual([200, 503, 504]);
    for (const [code, flag] of [
      ['418', 'FI'],
      ['404', 'NR'],
      ['503', 'UO'],
      ['503', 'UH'],
      ['503', 'UF'],
      ['504', 'UT'],
    ] as const) {
      const found = await find('istio_requests_total', { response_code: code, response_flags: flag });
      expect(
        found.map((s) => s.value),
        `${code} ${flag}`,
      ).toEqual([1]);
      expect(found[0]!.labels).toMatchObject({
        reporter: 'waypoint',
        source_workload: 'web-frontend',
        destination_service: HOST,
      });
    }
  });

  it('flags URX when the retries are used up and DC when the client goes away', async () => {
    const pod = w.pods[0]!;
    pod.behaviour = (_req, res) => {
      res.writeHead(503);
      res.end('busy');
    };
    expect((await w.request({ path: '/urx' })).status).toBe(503);
    const held: Array<() => void> = [];
    pod.behaviour = (req, res, b) => {
      held.push(() => answerWithName(req, res, b));
    };
    const gone = new AbortController();
    const pending = w.request({ path: '/ok/hang', signal: gone.signal }).catch((e: Error) => e);
    for (let i = 0; i < 50 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    gone.abort();
    await pending;
    pod.behaviour = answerWithName;
    for (const release of held) release();
    expect(
      (await find('istio_requests_total', { response_code: '503', response_flags: 'URX' })).map((s) => s.value),
    ).toEqual([1]);
    for (let i = 0; i < 50 && (await find('istio_requests_total', { response_flags: 'DC' })).length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(
      (await find('istio_requests_total', { response_code: '0', response_flags: 'DC' })).map((s) => s.value),
    ).toEqual([1]);
  });

  it('writes one JSON access log line per request', async () => {
    const from = logs.length;
    await w.request({ path: '/ok/logged?q=1', headers: { 'x-request-id': 'req-42' } });
    await w.request({ path: '/abort/logged' });
    const lines = logs.slice(from).filter((l) => l.component === 'waypoint.access');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'info',
      method: 'GET',
      path: '/ok/logged?q=1',
      status: 200,
      flags: '-',
      request_id: 'req-42',
      source: 'spiffe://cluster.local/ns/coffee-shop/sa/web-frontend',
      upstream: `${w.pods[0]!.ip}:${APP_PORT}`,
      route: 'ok',
      attempts: 1,
    });
    expect(lines[1]).toMatchObject({ path: '/abort/logged', status: 418, flags: 'FI', route: 'abort' });
  });
});
