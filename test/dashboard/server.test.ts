// The dashboard server without a mesh (no root): the page and its offline assets, the JSON
// API's answers and errors, the event stream, and the graph from a (fake) Prometheus's
// HTTP API with --prometheus.
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWindow, startDashboard, type Dashboard } from '../../ctl/dashboard/server.js';

const NS = 'coffee-shop';
const labels = (src: string, code: string) => ({
  reporter: 'waypoint',
  source_workload: src,
  source_workload_namespace: NS,
  destination_workload: 'payment-service',
  destination_workload_namespace: NS,
  destination_service: `payment-service.${NS}.svc.cluster.local`,
  destination_service_name: 'payment-service',
  destination_service_namespace: NS,
  connection_security_policy: 'mutual_tls',
  response_code: code,
  job: 'ambit-waypoint',
});

/** Answers instant queries like Prometheus: increase() of the two request series over the window. */
function fakePrometheus(): Promise<{ url: string; queries: string[]; close(): Promise<void> }> {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    queries.push(q);
    const m = /^increase\((\w+)\[(\d+)s\]\)$/.exec(q);
    if (!m) {
      res.writeHead(400).end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: `parse error: ${q}` }));
      return;
    }
    const seconds = Number(m[2]);
    const result =
      m[1] === 'istio_requests_total'
        ? [
            { metric: labels('order-service', '200'), value: [0, String(10 * seconds)] },
            { metric: labels('inventory-service', '403'), value: [0, String(seconds)] },
          ]
        : m[1] === 'istio_request_duration_milliseconds_bucket'
          ? ['5', '10', '+Inf'].map((le) => ({
              metric: { ...labels('order-service', '200'), le },
              value: [0, String(le === '5' ? 0 : 10 * seconds)],
            }))
          : [];
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        queries,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

describe('dashboard server', () => {
  let stateDir: string;
  let local: Dashboard;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'ambit-dashboard-unit-'));
    local = await startDashboard({ port: 0, stateDir, intervalMs: 200 });
  });
  afterAll(async () => {
    await local?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('serves the page, its script and cytoscape from 127.0.0.1 (no CDN)', async () => {
    expect(local.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await (await fetch(local.url)).text();
    expect(page).toContain('<script src="/assets/cytoscape.min.js">');
    expect(page).not.toMatch(/https?:\/\//);
    const cy = await fetch(`${local.url}assets/cytoscape.min.js`);
    expect(cy.status).toBe(200);
    expect((await cy.text()).length).toBeGreaterThan(100_000);
    expect((await fetch(`${local.url}assets/app.js`)).status).toBe(200);
    expect((await fetch(`${local.url}nope`)).status).toBe(404);
  });

  it('answers /api/graph without a mesh with an empty graph and says why', async () => {
    const g = (await (await fetch(`${local.url}api/graph`)).json()) as {
      nodes: unknown[];
      edges: unknown[];
      problems: string[];
      windowSeconds: number;
    };
    expect(g.nodes).toEqual([]);
    expect(g.edges).toEqual([]);
    expect(g.problems.join('\n')).toContain('no local mesh is running');
  });

  it('refuses a bad window or a details request without an id with 400 and a message', async () => {
    const bad = await fetch(`${local.url}api/graph?window=7h`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('window "7h"');
    expect((await fetch(`${local.url}api/details`)).status).toBe(400);
    expect(parseWindow('1m')).toBe(60);
    expect(parseWindow('15m')).toBe(900);
    expect(parseWindow(null)).toBe(300);
    expect(() => parseWindow('0')).toThrow(/window/);
  });

  it('streams the graph as server-sent events, again after each scrape', async () => {
    const ac = new AbortController();
    const res = await fetch(`${local.url}api/events?window=1m`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/event: graph/g) ?? []).length < 2)
      text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const first = /data: (.*)\n/.exec(text)![1]!;
    expect(JSON.parse(first)).toMatchObject({ nodes: [], edges: [], source: 'local' });
  });

  it('draws the graph from Prometheus with --prometheus: increase() over the chosen window', async () => {
    const prom = await fakePrometheus();
    const d = await startDashboard({ port: 0, stateDir, prometheus: prom.url, intervalMs: 200 });
    try {
      const g = (await (await fetch(`${d.url}api/graph?window=5m`)).json()) as {
        source: string;
        edges: Array<Record<string, unknown>>;
      };
      expect(g.source).toBe('prometheus');
      expect(prom.queries).toContain('increase(istio_requests_total[300s])');
      expect(g.edges.find((e) => e.id === `wl:${NS}/order-service->svc:${NS}/payment-service`)).toMatchObject({
        rps: 10,
        errorRate: 0,
        mtls: true,
        denied: 0,
      });
      expect(g.edges.find((e) => e.id === `wl:${NS}/order-service->svc:${NS}/payment-service`)!.p99Ms).toBeCloseTo(
        9.95,
        1,
      );
      expect(g.edges.find((e) => e.id === `wl:${NS}/inventory-service->svc:${NS}/payment-service`)).toMatchObject({
        rps: 1,
        errorRate: 1,
        denied: 300,
      });
      await fetch(`${d.url}api/graph?window=1m`);
      expect(prom.queries).toContain('increase(istio_requests_total[60s])');
    } finally {
      await d.close();
      await prom.close();
    }
  });
});
