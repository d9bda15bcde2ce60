// Tracing through a real waypoint: W3C context continued to the upstream, sampling honoured,
// spans exported over OTLP/HTTP to a collector (a plain HTTP server standing in for one).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { Tracer } from '../../waypoint/tracing.js';
import { testCa } from '../support/pki.js';
import { to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string } }>;
}

describe('waypoint tracing', () => {
  const h = { w: undefined as unknown as WaypointHarness, tracer: undefined as unknown as Tracer };
  const received: OtlpSpan[] = [];
  const collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
      }
      res.end('{}');
    });
  });

  beforeAll(async () => {
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    h.tracer = new Tracer({
      endpoint,
      serviceName: 'coffee-shop.waypoint',
      log: createLogger('tracing-test'),
      flushIntervalMs: 50,
    });
    const w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 90);
    // 0% sampling for new traces: only requests whose caller sampled them are exported.
    await w.startWaypoint(
      waypointConfig(
        [{ source: 'coffee-shop/c', name: 'all', matches: [], destinations: [to(undefined)] }],
        [w.cluster(undefined, () => true)],
        { mesh: { ...DEFAULT_MESH_CONFIG, traceSampling: 0 } },
      ),
      { tracer: h.tracer },
    );
    h.w = w;
  });
  afterAll(async () => {
    await h.tracer?.close();
    await h.w?.close();
    collector.close();
  });

  it("continues the caller's trace upstream with the waypoint's span as parent and exports it", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await h.w.request({ path: '/traced', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(r.status).toBe(200);
    const seen = h.w.pods[0]!.seen.at(-1)!.headers.traceparent as string;
    const [, upTrace, upParent, flags] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(seen) ?? [];
    expect(upTrace).toBe(traceId);
    expect(upParent).not.toBe('00f067aa0ba902b7');
    expect(flags).toBe('01');
    // The span ends when the response stream closes, which may be just after the client read it.
    for (let i = 0; i < 40 && !received.some((s) => s.traceId === traceId); i++) {
      await h.tracer.flush();
      await new Promise((r) => setTimeout(r, 25));
    }
    const span = received.find((s) => s.traceId === traceId);
    expect(span).toBeDefined();
    expect(span!.spanId).toBe(upParent);
    expect(span!.parentSpanId).toBe('00f067aa0ba902b7');
    expect(span!.attributes.find((a) => a.key === 'http.status_code')?.value.intValue).toBe('200');
  });

  it('starts a new unsampled trace at 0% sampling and exports nothing for it', async () => {
    const before = received.length;
    await h.w.request({ path: '/untraced' });
    const seen = h.w.pods[0]!.seen.at(-1)!.headers.traceparent as string;
    expect(seen).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    await h.tracer.flush();
    expect(received.length).toBe(before);
  });

  it('samples new traces by the configured percentage', () => {
    let n = 0;
    const t = new Tracer({ serviceName: 'x', log: createLogger('t') });
    for (let i = 0; i < 2000; i++) if (t.start(undefined, 30).sampled) n++;
    expect(n / 2000).toBeGreaterThan(0.25);
    expect(n / 2000).toBeLessThan(0.35);
    expect(t.start('00-00000000000000000000000000000000-00f067aa0ba902b7-01', 0).traceId).not.toBe('0'.repeat(32));
  });
});
