import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatorPod, generatorTargets, parseMetrics, renderView } from './live.js';
import { percentile } from './loadgen.js';

const COFFEE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'coffee-shop');

describe('live view', () => {
  it('targets the annotated coffee-shop Services with their paths and weights', async () => {
    const gen = await generatorTargets(COFFEE);
    expect(gen?.namespace).toBe('coffee-shop');
    expect(gen?.targets.map((t) => [t.name, t.url, t.weight])).toEqual([
      ['web-frontend', 'http://web-frontend:8080/order', 6],
      ['payment-service', 'http://payment-service:8080/pay', 1],
      ['customer-service', 'http://customer-service:8080/profile', 3],
    ]);
    const pod = generatorPod('coffee-shop', gen!.targets, '/s', 7) as unknown as {
      spec: { containers: Array<{ command: string[]; env: Array<{ name: string; value: string }> }> };
    };
    expect(pod.spec.containers[0]!.command[1]).toMatch(/dist\/ctl\/local\/loadgen\.js$/);
    expect(pod.spec.containers[0]!.env).toContainEqual({ name: 'RATE', value: '7' });
  });

  it('parses Prometheus text and shows edges, mTLS, denials and the version split', () => {
    const labels = (src: string, svc: string, sec = 'mutual_tls') =>
      `{reporter="source",source_workload="${src}",destination_service_name="${svc}",connection_security_policy="${sec}"}`;
    const before = parseMetrics(
      [
        `istio_tcp_connections_opened_total${labels('gen', 'web')} 10`,
        'ambit_connections_refused_total{component="agent",reason="authz-denied"} 3',
      ].join('\n'),
    );
    const now = parseMetrics(
      [
        '# HELP x y',
        `istio_tcp_connections_opened_total${labels('gen', 'web')} 14`,
        `istio_tcp_connections_closed_total${labels('gen', 'web')} 13`,
        `istio_tcp_sent_bytes_total${labels('gen', 'web')} 2048`,
        `istio_tcp_connections_opened_total${labels('legacy', 'db', 'none')} 1`,
        'ambit_connections_refused_total{component="agent",reason="authz-denied"} 5',
      ].join('\n'),
    );
    expect(now.get('istio_tcp_sent_bytes_total')?.[0]?.value).toBe(2048);
    const text = renderView({
      stats: {
        time: '',
        rate: 20,
        inflight: 1,
        skipped: 0,
        targets: {
          web: {
            rps: 10,
            ok: 9,
            failed: 1,
            p50: 4,
            p99: 12,
            errors: { ECONNRESET: 1 },
            versions: { v1: 6, v2: 3 },
            totalOk: 9,
            totalFailed: 1,
          },
        },
      },
      now,
      before,
      pods: 3,
      started: Date.now(),
      admin: 15000,
      // eslint-disable-next-line no-control-regex
    }).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(text).toMatch(/web\s+10\s+90\.0%\s+4\.0\s+12\s+v1 67% v2 33%\s+ECONNRESET×1/);
    expect(text).toMatch(/gen → web\s+14\s+4\s+1\s+2\.0 KiB\s+mTLS \(HBONE\)/);
    expect(text).toMatch(/legacy → db\s+1\s+0\s+1\s+0 B\s+plaintext/);
    expect(text).toContain('authz-denied: 5 (+2/s)');
  });

  it('shows the split since the start and, with a waypoint, its requests by destination and its 403 denials', () => {
    const req = (svc: string, code: string) =>
      `istio_requests_total{reporter="waypoint",destination_service_name="${svc}",response_code="${code}"}`;
    const wBefore = parseMetrics(
      [`${req('customer-service', '200')} 100`, `${req('payment-service', '403')} 10`].join('\n'),
    );
    const wNow = parseMetrics(
      [
        `${req('customer-service', '200')} 106`,
        `${req('payment-service', '403')} 12`,
        `${req('payment-service', '200')} 4`,
      ].join('\n'),
    );
    const text = renderView({
      stats: {
        time: '',
        rate: 20,
        inflight: 0,
        skipped: 0,
        targets: {
          'customer-service': {
            rps: 6,
            ok: 6,
            failed: 0,
            p50: 4,
            p99: 9,
            errors: {},
            versions: { v1: 2, v2: 4 },
            totalOk: 100,
            totalFailed: 0,
            totalVersions: { v1: 70, v2: 30 },
          },
        },
      },
      now: new Map(),
      before: undefined,
      pods: 8,
      started: Date.now(),
      admin: 15000,
      waypoints: [{ label: 'coffee-shop/waypoint', port: 15100, now: wNow, before: wBefore }],
      // eslint-disable-next-line no-control-regex
    }).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(text).toMatch(/customer-service\s+6\s+100\.0%.*v1 70% v2 30%/); // not this second's 33/67
    expect(text).toContain('WAYPOINT coffee-shop/waypoint (L7 routing and policy; admin + metrics 127.0.0.1:15100)');
    expect(text).toMatch(/customer-service\s+106\s+6\s+200 100%/);
    expect(text).toMatch(/payment-service\s+16\s+6\s+200 25% 403 75%/);
    expect(text).toContain('requests denied by waypoints (403) — 12 (+2/s)');
    expect(text).toContain('splits customer-service 70/30 per request');
  });

  it("shows the ingress gateway's requests under the service they were routed to (reporter source, as Istio)", () => {
    // What the gateway's /metrics say (waypoint/gateway/gateway-reporter.ts): Istio's labels.
    const gw = (code: string) =>
      `istio_requests_total{reporter="source",source_workload="istio-ingressgateway",destination_service="web-frontend.coffee-shop.svc.cluster.local",destination_service_name="web-frontend",destination_service_namespace="coffee-shop",response_code="${code}"}`;
    const text = renderView({
      stats: undefined,
      now: new Map(),
      before: undefined,
      pods: 8,
      started: Date.now(),
      admin: 15000,
      waypoints: [
        {
          label: 'coffee-shop/istio-ingressgateway',
          port: 15101,
          now: parseMetrics([`${gw('200')} 9`, `${gw('503')} 1`].join('\n')),
          before: parseMetrics(`${gw('200')} 5`),
        },
      ],
      // eslint-disable-next-line no-control-regex
    }).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(text).toContain('GATEWAY coffee-shop/istio-ingressgateway');
    expect(text).toMatch(/web-frontend\s+10\s+5\s+200 90% 503 10%/);
    expect(text).not.toMatch(/^unknown\s/m);
    // A gateway alone is not a waypoint: no waypoint split is claimed.
    expect(text).toContain('requests denied by waypoints and gateways (403)');
    expect(text).toContain('Without a waypoint');
  });

  it('percentile', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 100], 99)).toBe(100);
  });
});
