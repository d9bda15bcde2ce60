// The Telemetry API at a real waypoint (HBONE in, HBONE out): a namespace's metric overrides
// (tags from request.host and a request header, a tag removed, a metric disabled), its access log to an Envoy file
// provider with a response.code filter, and trace sampling from a resource that targets the
// waypoint's Gateway, all carried in the waypoint config's mesh settings as the controller
// sends them. A new config without the resources puts the defaults back.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import type { HttpRoute, WaypointConfig } from '../../core/model/l7.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import type { TelemetryPolicy } from '../../core/telemetry/policy.js';
import { Tracer } from '../../waypoint/tracing.js';
import { pollUntil } from '../support/wait.js';
import { testCa } from '../support/pki.js';
import { APP_PORT, to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';

/** A route for the path prefix `/<name>` to the service. */
const prefixRoute = (name: string, extra: Partial<HttpRoute> = {}): HttpRoute => ({
  source: 'coffee-shop/t',
  name,
  matches: [{ uri: { type: 'prefix', value: `/${name}` } }],
  destinations: [to(undefined)],
  ...extra,
});
const routes = [prefixRoute('ok'), prefixRoute('teapot', { fault: { abort: { httpStatus: 418, percentage: 100 } } })];

function policies(logFile: string): TelemetryPolicy[] {
  return [
    {
      key: 'coffee-shop/metrics-and-logs',
      scope: { namespace: 'coffee-shop', level: 'namespace' },
      metrics: [
        {
          metrics: ['REQUEST_COUNT'],
          mode: 'CLIENT_AND_SERVER',
          tags: [
            { tag: 'request_host', operation: 'UPSERT', value: { attribute: 'request.host' } },
            { tag: 'user', operation: 'UPSERT', value: { requestHeader: 'x-user' } },
            { tag: 'source_principal', operation: 'REMOVE' },
          ],
        },
        { metrics: ['REQUEST_SIZE'], mode: 'SERVER', disabled: true, tags: [] },
      ],
      accessLogging: [
        {
          mode: 'CLIENT_AND_SERVER',
          sinks: [{ provider: 'file-log', path: logFile }],
          filter: { expression: 'response.code >= 400', anyOf: [[{ op: '>=', value: 400 }]] },
        },
      ],
    },
    {
      key: 'coffee-shop/waypoint-tracing',
      scope: { namespace: 'coffee-shop', level: 'workload', targetRefs: [{ kind: 'Gateway', name: 'waypoint' }] },
      tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 100 }],
    },
  ];
}

describe('Telemetry API at the waypoint', () => {
  let w: WaypointHarness;
  let dir: string;
  let logFile: string;
  let config: WaypointConfig;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-t1-telemetry-'));
    logFile = path.join(dir, 'access.log');
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 95);
    config = waypointConfig(routes, [w.cluster(undefined, () => true)], {
      mesh: { ...DEFAULT_MESH_CONFIG, traceSampling: 0, telemetry: policies(logFile) },
    });
    // random() = 0.5: sampled at 100%, not at the mesh's 0%.
    const tracer = new Tracer({
      serviceName: 'coffee-shop.waypoint',
      log: createLogger('tracing-test'),
      random: () => 0.5,
      policy: () => w.telemetry.samplingPolicy(),
    });
    await w.startWaypoint(config, { tracer });
  });
  afterAll(async () => {
    await w?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const text = async (): Promise<string> => w.metrics.text();
  const lines = (t: string, name: string): string[] => t.split('\n').filter((l) => l.startsWith(`${name}{`));

  it('metrics: request_host and user from the request, source_principal removed, istio_request_bytes off', async () => {
    expect((await w.request({ path: '/ok', headers: { 'x-user': 'alice' } })).status).toBe(200);
    expect((await w.request({ path: '/ok', headers: { 'x-user': 'alice' } })).status).toBe(200);
    expect((await w.request({ path: '/teapot' })).status).toBe(418);
    const t = await text();
    const total = lines(t, 'istio_requests_total');
    expect(total).toHaveLength(2);
    expect(total.find((l) => l.includes('response_code="200"'))).toContain('user="alice"');
    expect(total.find((l) => l.includes('response_code="418"'))).toContain('user="unknown"');
    for (const l of total) {
      expect(l).toContain(`request_host="customer-service:${APP_PORT}"`);
      expect(l).not.toContain('source_principal=');
    }
    expect(total.find((l) => l.includes('response_code="200"'))!.endsWith(' 2')).toBe(true);
    expect(lines(t, 'istio_request_bytes_count')).toEqual([]);
    // Metrics the overrides do not name keep their labels.
    expect(lines(t, 'istio_response_bytes_count').every((l) => l.includes('source_principal='))).toBe(true);
  });

  it('access log: one Envoy-style JSON line per request the filter passes, in the provider file', async () => {
    const entries = await pollUntil(
      async () => {
        const body = await readFile(logFile, 'utf8').catch(() => '');
        const got = body
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        return got.length >= 1 ? got : undefined;
      },
      { what: 'the access log line', timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ method: 'GET', path: '/teapot', response_code: 418, response_flags: 'FI' });
    expect(entries[0]).toHaveProperty('start_time');
    expect(entries[0]).toHaveProperty('duration');
  });

  it('tracing: the resource targeting the waypoint Gateway samples 100% over the mesh 0%', async () => {
    const pod = w.pods[0]!;
    const before = pod.seen.length;
    expect((await w.request({ path: '/ok' })).status).toBe(200);
    const tp = String(pod.seen[before]!.headers.traceparent);
    expect(tp).toMatch(/-01$/);
    expect(w.telemetry.samplingPolicy()).toEqual({ percent: 100, report: true });
  });

  it('a config without Telemetry resources puts the defaults back', async () => {
    const plain = { ...config, version: `${config.version}-2`, mesh: { ...DEFAULT_MESH_CONFIG, traceSampling: 0 } };
    expect(w.runtime.apply(plain)).toEqual([]);
    const pod = w.pods[0]!;
    const before = pod.seen.length;
    expect((await w.request({ path: '/ok' })).status).toBe(200);
    expect(String(pod.seen[before]!.headers.traceparent)).toMatch(/-00$/);
    const total = lines(await text(), 'istio_requests_total');
    expect(total.some((l) => !l.includes('request_host=') && l.includes('source_principal='))).toBe(true);
    expect(lines(await text(), 'istio_request_bytes_count').length).toBeGreaterThan(0);
  });
});
