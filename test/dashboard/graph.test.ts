// The dashboard's graph from metric text: counter increases over a window → edges with
// req/s, error %, p99, mTLS and denials; pods named as their workloads; waypoint hops.
import { describe, expect, it } from 'vitest';
import { computeGraph, filterGraph, quantileFromBuckets, type Graph } from '../../ctl/dashboard/graph.js';
import { parseMetricsText } from '../../ctl/dashboard/metrics-text.js';
import { topologyFromDump } from '../../ctl/dashboard/topology.js';
import { counterDeltas, ScrapeRing } from '../../ctl/dashboard/window.js';

const NS = 'coffee-shop';
const BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000];

function labels(o: Record<string, string>): string {
  return `{${Object.entries(o)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

/** A waypoint's request metrics: `count` requests of `ms` milliseconds each, with `code`. */
function requests(
  src: string,
  svc: string,
  dstWorkload: string,
  code: string,
  count: number,
  ms: number,
  mtls = 'mutual_tls',
): string {
  const l = {
    reporter: 'waypoint',
    source_workload: src,
    source_workload_namespace: NS,
    source_principal: `spiffe://cluster.local/ns/${NS}/sa/${src}`,
    destination_workload: dstWorkload,
    destination_workload_namespace: dstWorkload === 'unknown' ? 'unknown' : NS,
    destination_service: `${svc}.${NS}.svc.cluster.local`,
    destination_service_name: svc,
    destination_service_namespace: NS,
    request_protocol: 'http',
    response_flags: '-',
    connection_security_policy: mtls,
    response_code: code,
  };
  const lines = [`istio_requests_total${labels(l)} ${count}`];
  for (const le of [...BUCKETS.map(String), '+Inf'])
    lines.push(
      `istio_request_duration_milliseconds_bucket${labels({ ...l, le })} ` +
        `${le === '+Inf' || Number(le) >= ms ? count : 0}`,
    );
  return lines.join('\n');
}

/** An agent's connection metrics (the caller's side). */
function connections(
  srcPod: string,
  svc: string,
  opened: number,
  bytes: number,
  mtls = 'mutual_tls',
  principal = `spiffe://cluster.local/ns/${NS}/sa/waypoint`,
): string {
  const l = {
    reporter: 'source',
    source_workload: srcPod,
    source_workload_namespace: NS,
    destination_workload: 'unknown',
    destination_workload_namespace: 'unknown',
    destination_principal: principal,
    destination_service: `${svc}.${NS}.svc.cluster.local`,
    destination_service_name: svc,
    destination_service_namespace: NS,
    request_protocol: 'tcp',
    response_flags: '-',
    connection_security_policy: mtls,
  };
  return [
    `istio_tcp_connections_opened_total${labels(l)} ${opened}`,
    `istio_tcp_sent_bytes_total${labels(l)} ${bytes}`,
    `istio_tcp_received_bytes_total${labels(l)} 0`,
  ].join('\n');
}

const DUMP = {
  workloads: [
    {
      uid: 'Pod/coffee-shop/order-service-0',
      name: 'order-service-0',
      namespace: NS,
      labels: { 'service.istio.io/workload-name': 'order-service', app: 'order-service', version: 'v1' },
    },
    {
      uid: 'Pod/coffee-shop/payment-service-0',
      name: 'payment-service-0',
      namespace: NS,
      labels: { 'service.istio.io/workload-name': 'payment-service', app: 'payment-service' },
    },
    {
      uid: 'Pod/coffee-shop/inventory-service-0',
      name: 'inventory-service-0',
      namespace: NS,
      labels: { 'service.istio.io/workload-name': 'inventory-service', app: 'inventory-service' },
    },
    { uid: 'Pod/coffee-shop/waypoint-waypoint', name: 'waypoint-waypoint', namespace: NS, labels: {} },
  ],
  services: [
    {
      name: 'payment-service',
      namespace: NS,
      hostname: `payment-service.${NS}.svc.cluster.local`,
      endpoints: [{ workloadUid: 'Pod/coffee-shop/payment-service-0' }],
      waypoint: { name: 'waypoint', namespace: NS },
    },
    {
      name: 'inventory-service',
      namespace: NS,
      hostname: `inventory-service.${NS}.svc.cluster.local`,
      endpoints: [{ workloadUid: 'Pod/coffee-shop/inventory-service-0' }],
      waypoint: { name: 'waypoint', namespace: NS },
    },
  ],
};
const TOPOLOGY = topologyFromDump(DUMP, [
  {
    namespace: NS,
    name: 'waypoint',
    pod: 'waypoint-waypoint',
    identity: `spiffe://cluster.local/ns/${NS}/sa/waypoint`,
  },
]);

function graphOf(before: string, after: string, seconds: number): Graph {
  const ring = new ScrapeRing(10);
  ring.push({ at: 0, samples: parseMetricsText(before) });
  ring.push({ at: seconds * 1000, samples: parseMetricsText(after) });
  return computeGraph(ring.deltas(300), TOPOLOGY);
}

const edge = (g: Graph, source: string, target: string) =>
  g.edges.find((e) => e.source === source && e.target === target);

describe('dashboard graph', () => {
  it('parses Prometheus text: labels, escapes, comments and other families', () => {
    const s = parseMetricsText('# HELP x\nistio_requests_total{a="1",b="x\\"y"} 3\nother 1\nbad line\n', (n) =>
      n.startsWith('istio_'),
    );
    expect([...s.keys()]).toEqual(['istio_requests_total']);
    expect(s.get('istio_requests_total')).toEqual([{ labels: { a: '1', b: 'x"y' }, value: 3 }]);
  });

  it('computes req/s, error %, p99, mTLS and denials from two scrapes through the waypoint', () => {
    const before = [
      requests('order-service', 'payment-service', 'payment-service', '200', 100, 4),
      requests('inventory-service', 'payment-service', 'unknown', '403', 2, 0.7),
    ].join('\n');
    const after = [
      requests('order-service', 'payment-service', 'payment-service', '200', 300, 4),
      requests('inventory-service', 'payment-service', 'unknown', '403', 12, 0.7),
    ].join('\n');
    const g = graphOf(before, after, 10);
    const ok = edge(g, 'wl:coffee-shop/order-service', 'svc:coffee-shop/payment-service')!;
    expect(ok).toMatchObject({
      rps: 20,
      errorRate: 0,
      mtls: true,
      denied: 0,
      via: 'wp:coffee-shop/waypoint',
      protocol: 'http',
      total: 200,
    });
    // 200 requests all in the (1, 5] bucket: p99 is interpolated inside it (Prometheus's histogram_quantile).
    expect(ok.p99Ms).toBeCloseTo(1 + 4 * 0.99, 2);
    const denied = edge(g, 'wl:coffee-shop/inventory-service', 'svc:coffee-shop/payment-service')!;
    expect(denied).toMatchObject({ rps: 1, errorRate: 1, denied: 10, via: 'wp:coffee-shop/waypoint' });
    // The service → workload hop: only what the workload answered.
    expect(edge(g, 'svc:coffee-shop/payment-service', 'wl:coffee-shop/payment-service')).toMatchObject({
      rps: 20,
      total: 200,
    });
    // Nodes sit in their namespace's compound node; the waypoint is a node of its own.
    const nodes = new Map(g.nodes.map((n) => [n.id, n]));
    expect(nodes.get('wl:coffee-shop/order-service')?.parent).toBe('ns:coffee-shop');
    expect(nodes.get('wp:coffee-shop/waypoint')?.type).toBe('waypoint');
    expect(nodes.get('ns:coffee-shop')?.type).toBe('namespace');
    expect(g.windowSeconds).toBe(10);
  });

  it("draws an ingress gateway's requests (reporter source, as Istio's gateways report) to the routed-to service", () => {
    const gateway = (count: number) =>
      requests('istio-ingressgateway', 'payment-service', 'payment-service', '200', count, 3).replaceAll(
        'reporter="waypoint"',
        'reporter="source"',
      );
    const g = graphOf(gateway(10), gateway(40), 10);
    const e = edge(g, 'wl:coffee-shop/istio-ingressgateway', 'svc:coffee-shop/payment-service')!;
    expect(e).toMatchObject({ protocol: 'http', rps: 3, total: 30, mtls: true });
    expect(e.via).toBeUndefined();
    expect(e.p99Ms).toBeGreaterThan(1);
    expect(edge(g, 'svc:coffee-shop/payment-service', 'wl:coffee-shop/payment-service')).toMatchObject({ total: 30 });
  });

  it('marks an edge with any plaintext request as not mTLS', () => {
    const g = graphOf(
      '',
      [
        requests('order-service', 'inventory-service', 'inventory-service', '200', 5, 2),
        requests('order-service', 'inventory-service', 'inventory-service', '503', 5, 2, 'none'),
      ].join('\n'),
      5,
    );
    expect(edge(g, 'wl:coffee-shop/order-service', 'svc:coffee-shop/inventory-service')).toMatchObject({
      mtls: false,
      errorRate: 0.5,
      rps: 2,
    });
  });

  it('shares one label object per series across scrapes (the ring keeps 15 minutes of them)', () => {
    const text = 'istio_requests_total{a="1"} 3\nistio_requests_total{a="2"} 4';
    const [a, b] = [parseMetricsText(text), parseMetricsText(text.replace(' 3', ' 5'))];
    expect(b.get('istio_requests_total')![0]!.labels).toBe(a.get('istio_requests_total')![0]!.labels);
    const tagged = parseMetricsText(text, undefined, { ambit_waypoint: 'ns/w' });
    expect(tagged.get('istio_requests_total')![1]!.labels).toEqual({ a: '2', ambit_waypoint: 'ns/w' });
    expect(a.get('istio_requests_total')![1]!.labels).toEqual({ a: '2' });
  });

  it('treats a counter that went down as reset', () => {
    const d = counterDeltas(
      parseMetricsText('c{a="1"} 100\nc{a="2"} 5'),
      parseMetricsText('c{a="1"} 7\nc{a="2"} 9\nc{a="3"} 4'),
    );
    expect(d.get('c')!.map((s) => s.value)).toEqual([7, 4, 4]);
  });

  it("folds the agent's connections into the waypoint's edge, and names pods as their workload", () => {
    const before = [
      requests('order-service', 'payment-service', 'payment-service', '200', 0, 4),
      connections('order-service-0', 'payment-service', 0, 0),
    ].join('\n');
    const after = [
      requests('order-service', 'payment-service', 'payment-service', '200', 50, 4),
      connections('order-service-0', 'payment-service', 3, 5000, 'none'),
    ].join('\n');
    const g = graphOf(before, after, 10);
    expect(g.nodes.some((n) => n.id === 'wl:coffee-shop/order-service-0')).toBe(false);
    expect(edge(g, 'wl:coffee-shop/order-service', 'svc:coffee-shop/payment-service')).toMatchObject({
      protocol: 'http',
      rps: 5,
      mtls: false,
      bytesPerSec: 500,
    });
  });

  it('draws L4-only traffic from the agent (connections per second, no p99)', () => {
    const g = graphOf(
      connections('order-service-0', 'ledger', 0, 0, 'mutual_tls', 'spiffe://cluster.local/ns/coffee-shop/sa/ledger'),
      connections(
        'order-service-0',
        'ledger',
        20,
        100,
        'mutual_tls',
        'spiffe://cluster.local/ns/coffee-shop/sa/ledger',
      ),
      10,
    );
    const e = edge(g, 'wl:coffee-shop/order-service', 'svc:coffee-shop/ledger')!;
    expect(e).toMatchObject({ protocol: 'tcp', rps: 2, p99Ms: null, mtls: true, denied: 0 });
    expect(e.via).toBeUndefined();
  });

  it("counts the agents' refusals by reason, and draws services with their workloads even without traffic", () => {
    const g = graphOf(
      'ambit_connections_refused_total{component="agent",reason="authz-denied"} 1',
      'ambit_connections_refused_total{component="agent",reason="authz-denied"} 4',
      3,
    );
    expect(g.l4Denied).toEqual({ 'authz-denied': 3 });
    expect(edge(g, 'svc:coffee-shop/inventory-service', 'wl:coffee-shop/inventory-service')).toMatchObject({
      total: 0,
      rps: 0,
    });
    expect(g.nodes.some((n) => n.id.includes('waypoint-waypoint'))).toBe(false);
  });

  it('has no rates from a single scrape', () => {
    const ring = new ScrapeRing(3);
    ring.push({
      at: 0,
      samples: parseMetricsText(requests('order-service', 'payment-service', 'payment-service', '200', 10, 1)),
    });
    const g = computeGraph(ring.deltas(60), TOPOLOGY);
    expect(g.edges.every((e) => e.rps === 0)).toBe(true);
  });

  it('uses the oldest scrape inside the window', () => {
    const ring = new ScrapeRing(100);
    for (let i = 0; i <= 20; i++) ring.push({ at: i * 10_000, samples: parseMetricsText(`c ${i * 10}`) });
    expect(ring.deltas(60)).toMatchObject({ seconds: 60 });
    expect(ring.deltas(60).samples.get('c')![0]!.value).toBe(60);
    expect(ring.deltas(900).seconds).toBe(200);
  });

  it('interpolates quantiles like histogram_quantile', () => {
    expect(
      quantileFromBuckets(
        0.5,
        new Map([
          [10, 50],
          [20, 100],
          [Infinity, 100],
        ]),
      ),
    ).toBe(10);
    expect(
      quantileFromBuckets(
        0.99,
        new Map([
          [10, 0],
          [20, 100],
          [Infinity, 100],
        ]),
      ),
    ).toBeCloseTo(19.9);
    expect(
      quantileFromBuckets(
        0.99,
        new Map([
          [10, 0],
          [Infinity, 0],
        ]),
      ),
    ).toBeNull();
    expect(
      quantileFromBuckets(
        0.99,
        new Map([
          [10, 1],
          [Infinity, 100],
        ]),
      ),
    ).toBe(10);
  });

  it('filters by namespace, keeping the other end of each edge', () => {
    const text = [requests('order-service', 'payment-service', 'payment-service', '200', 10, 1)]
      .join('\n')
      .replaceAll('source_workload_namespace="coffee-shop"', 'source_workload_namespace="shop-front"');
    const g = graphOf(text.replace(/ 10$/gm, ' 0'), text, 10);
    const only = filterGraph(g, ['shop-front']);
    expect(only.nodes.map((n) => n.id).sort()).toEqual([
      'ns:coffee-shop',
      'ns:shop-front',
      'svc:coffee-shop/payment-service',
      'wl:shop-front/order-service',
      'wp:coffee-shop/waypoint',
    ]);
    expect(only.edges.map((e) => e.id)).toEqual(['wl:shop-front/order-service->svc:coffee-shop/payment-service']);
  });
});
