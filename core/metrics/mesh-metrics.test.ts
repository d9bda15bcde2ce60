import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  HTTP_LABEL_NAMES,
  TCP_LABEL_NAMES,
  httpLabels,
  peerFromWorkload,
  tcpLabels,
  workloadNameOf,
} from './labels.js';
import { MeshMetrics } from './mesh-metrics.js';

const order = peerFromWorkload({
  name: 'order-service-5d8f7c9b6d-x7k2p',
  namespace: 'coffee-shop',
  identity: 'spiffe://cluster.local/ns/coffee-shop/sa/order-service',
  labels: { app: 'order-service', version: 'v1' },
});
const payment = peerFromWorkload({
  name: 'payment-0',
  namespace: 'coffee-shop',
  identity: 'spiffe://cluster.local/ns/coffee-shop/sa/payment-service',
  labels: { app: 'payment-service' },
  canonicalRevision: 'v2',
});
const service = {
  hostname: 'payment-service.coffee-shop.svc.cluster.local',
  name: 'payment-service',
  namespace: 'coffee-shop',
};

/** Parse `name{a="b",...} value` lines of one metric into label objects with values. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

describe('labels', () => {
  it('derives Istio workload, app and version labels', () => {
    expect(order).toMatchObject({
      workload: 'order-service',
      app: 'order-service',
      version: 'v1',
      namespace: 'coffee-shop',
    });
    expect(payment).toMatchObject({ workload: 'payment-0', app: 'payment-service', version: 'v2' });
    expect(workloadNameOf({ name: 'x', labels: { 'service.istio.io/workload-name': 'y' } })).toBe('y');
  });

  it('fills every CONTRACT label, unknown when absent', () => {
    const t = tcpLabels({ reporter: 'destination', source: order, securityPolicy: 'mutual_tls' });
    expect(Object.keys(t).sort()).toEqual([...TCP_LABEL_NAMES].sort());
    expect(t).toMatchObject({
      destination_workload: 'unknown',
      destination_service: 'unknown',
      request_protocol: 'tcp',
      response_flags: '-',
    });
    const h = httpLabels({
      reporter: 'waypoint',
      source: order,
      destination: payment,
      service,
      securityPolicy: 'mutual_tls',
      responseCode: 503,
      responseFlags: 'UH',
    });
    expect(Object.keys(h).sort()).toEqual([...HTTP_LABEL_NAMES].sort());
    expect(h).toMatchObject({
      response_code: '503',
      request_protocol: 'http',
      response_flags: 'UH',
      destination_service_name: 'payment-service',
    });
  });
});

describe('MeshMetrics', () => {
  it('exposes the TCP metrics with the labels given, in its own registry', async () => {
    const m = new MeshMetrics({ component: 'agent', http: false });
    const s = m.tcpSeries(
      tcpLabels({
        reporter: 'destination',
        source: order,
        destination: payment,
        service,
        securityPolicy: 'mutual_tls',
      }),
    );
    s.opened();
    s.sent(100);
    s.received(40);
    s.sent(11);
    s.closed();
    const text = await m.text();
    const sent = samples(text, 'istio_tcp_sent_bytes_total');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.value).toBe(111);
    expect(sent[0]!.labels).toMatchObject({
      reporter: 'destination',
      source_workload: 'order-service',
      source_principal: 'spiffe://cluster.local/ns/coffee-shop/sa/order-service',
      destination_workload: 'payment-0',
      destination_service: service.hostname,
      connection_security_policy: 'mutual_tls',
    });
    expect(samples(text, 'istio_tcp_received_bytes_total')[0]!.value).toBe(40);
    expect(samples(text, 'istio_tcp_connections_opened_total')[0]!.value).toBe(1);
    expect(samples(text, 'istio_tcp_connections_closed_total')[0]!.value).toBe(1);
    expect(text).not.toContain('istio_requests_total');
    // nothing leaked into prom-client's global registry
    expect(await globalRegistry.metrics()).not.toContain('istio_tcp');
  });

  it('records HTTP requests: counter and histograms', async () => {
    const m = new MeshMetrics({ component: 'waypoint', tcp: false });
    const l = httpLabels({
      reporter: 'waypoint',
      source: order,
      destination: payment,
      service,
      securityPolicy: 'mutual_tls',
      responseCode: 200,
    });
    m.recordRequest(l, { durationMs: 3, requestBytes: 120, responseBytes: 5000 });
    m.recordRequest(l, { durationMs: 700, requestBytes: 80, responseBytes: 10 });
    m.recordRequest({ ...l, response_code: '403' }, { durationMs: 1, requestBytes: 1, responseBytes: 1 });
    const text = await m.text();
    const total = samples(text, 'istio_requests_total');
    expect(total.find((x) => x.labels.response_code === '200')!.value).toBe(2);
    expect(total.find((x) => x.labels.response_code === '403')!.value).toBe(1);
    const buckets = samples(text, 'istio_request_duration_milliseconds_bucket').filter(
      (x) => x.labels.response_code === '200',
    );
    expect(buckets.find((x) => x.labels.le === '5')!.value).toBe(1);
    expect(buckets.find((x) => x.labels.le === '1000')!.value).toBe(2);
    expect(samples(text, 'istio_response_bytes_sum').find((x) => x.labels.response_code === '200')!.value).toBe(5010);
    expect(samples(text, 'istio_request_bytes_count').length).toBe(2);
  });

  it('folds label sets past the series limit into one "other" series', async () => {
    const m = new MeshMetrics({ component: 'agent', http: false, maxSeries: 2 });
    for (let i = 0; i < 5; i++) {
      m.tcpSeries(
        tcpLabels({ reporter: 'destination', source: { ...order, workload: `w${i}` }, securityPolicy: 'none' }),
      ).opened();
    }
    const text = await m.text();
    const opened = samples(text, 'istio_tcp_connections_opened_total');
    expect(opened).toHaveLength(3);
    expect(opened.find((x) => x.labels.source_workload === 'other')!.value).toBe(3);
    expect(samples(text, 'ambit_metrics_series_overflow_total')[0]!.value).toBe(3);
  });

  it('ambit_* component metrics: cert expiry, pools, config version, refusals', async () => {
    const m = new MeshMetrics({ component: 'agent' });
    const notAfter = new Date(Date.now() + 3600_000);
    m.setCertificateSource(() => [{ identity: 'spiffe://cluster.local/ns/a/sa/b', notAfter }]);
    m.setPoolSource(() => ({ hbone: 3 }));
    m.configApplied('v1');
    m.configApplied('v2');
    m.configRejected();
    m.connectionRefused('authz');
    m.connectionRefused('authz');
    m.setActiveConnections(7);
    const text = await m.text();
    const exp = samples(text, 'ambit_cert_expiry_seconds')[0]!;
    expect(exp.labels.identity).toBe('spiffe://cluster.local/ns/a/sa/b');
    expect(exp.value).toBeGreaterThan(3500);
    expect(exp.value).toBeLessThanOrEqual(3600);
    expect(samples(text, 'ambit_pool_size')[0]).toMatchObject({ labels: { pool: 'hbone' }, value: 3 });
    const versions = samples(text, 'ambit_config_version');
    expect(versions).toHaveLength(1);
    expect(versions[0]!.labels.version).toBe('v2');
    expect(samples(text, 'ambit_config_updates_total').find((x) => x.labels.result === 'applied')!.value).toBe(2);
    expect(samples(text, 'ambit_config_updates_total').find((x) => x.labels.result === 'rejected')!.value).toBe(1);
    expect(samples(text, 'ambit_connections_refused_total')[0]).toMatchObject({
      labels: { reason: 'authz' },
      value: 2,
    });
    expect(samples(text, 'ambit_active_connections')[0]!.value).toBe(7);
  });

  it('two registries in one process do not collide', async () => {
    const a = new MeshMetrics({ component: 'a', processMetrics: true });
    const b = new MeshMetrics({ component: 'b', processMetrics: true });
    a.connectionRefused('x');
    expect(await b.text()).not.toContain('ambit_connections_refused_total{');
    expect(await a.text()).toContain('ambit_process_');
  });
});
