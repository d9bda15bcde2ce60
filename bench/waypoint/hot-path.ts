// Per-request costs of three pieces of the waypoint's request path, each next to what it
// replaced, in one process (ratios hold on a loaded machine; absolute ns do not):
// telemetry (a label object and prom-client's bound children, which hash and validate 17
// labels on each of 4 updates, vs the bound tuple of WaypointTelemetry and plain numbers),
// cancellation (AbortController + an EventTarget listener added and removed, as node:http
// does for `signal`, vs RequestCancel), and trace/span ids (two randomBytes calls vs the
// pooled buffer). Usage: node dist/bench/waypoint/hot-path.js [requests=200000]
import { randomBytes } from 'node:crypto';
import { Counter, Histogram, Registry } from 'prom-client';
import { createLogger } from '../../core/log.js';
import { httpLabels, HTTP_LABEL_NAMES, peerFromWorkload } from '../../core/metrics/labels.js';
import { DURATION_BUCKETS_MS, MeshMetrics, SIZE_BUCKETS_BYTES } from '../../core/metrics/mesh-metrics.js';
import type { Workload } from '../../core/model/types.js';
import { WaypointTelemetry } from '../../waypoint/telemetry.js';
import { Tracer } from '../../waypoint/tracing.js';
import { onCancel, RequestCancel } from '../../waypoint/upstream/transport-cancel.js';

const N = Number(process.argv[2] ?? 200_000);

function nsPerCall(fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(N, 20_000); i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - t) / N;
}

const workload = (name: string, sa: string): Workload =>
  ({
    name,
    namespace: 'shop',
    identity: `spiffe://cluster.local/ns/shop/sa/${sa}`,
    labels: { app: sa },
  }) as unknown as Workload;
const src = workload('orders-5d8f7c9b6-x2x4z', 'orders');
const dst = workload('payments-6c7d8e9f0-a1b2c', 'payments');
const service = { hostname: 'payments.shop.svc.cluster.local', name: 'payments', namespace: 'shop' };

function telemetryBefore(): (i: number) => void {
  const r = new Registry();
  const names = [...HTTP_LABEL_NAMES];
  const requests = new Counter({ name: 'r', help: 'r', labelNames: names, registers: [r] });
  const duration = new Histogram({
    name: 'd',
    help: 'd',
    labelNames: names,
    buckets: DURATION_BUCKETS_MS,
    registers: [r],
  });
  const reqBytes = new Histogram({
    name: 'q',
    help: 'q',
    labelNames: names,
    buckets: SIZE_BUCKETS_BYTES,
    registers: [r],
  });
  const resBytes = new Histogram({
    name: 's',
    help: 's',
    labelNames: names,
    buckets: SIZE_BUCKETS_BYTES,
    registers: [r],
  });
  type Bound = {
    c: { inc(): void };
    d: { observe(v: number): void };
    q: { observe(v: number): void };
    s: { observe(v: number): void };
  };
  const cache = new Map<string, Bound>();
  return () => {
    const l = httpLabels({
      reporter: 'waypoint',
      source: peerFromWorkload(src),
      destination: peerFromWorkload(dst),
      service,
      securityPolicy: 'mutual_tls',
      protocol: 'http',
      responseFlags: '-',
      responseCode: 200,
    });
    let key = '';
    for (const n of names) key += l[n] + '\u0001';
    let b = cache.get(key);
    if (!b) {
      b = { c: requests.labels(l), d: duration.labels(l), q: reqBytes.labels(l), s: resBytes.labels(l) };
      cache.set(key, b);
    }
    b.c.inc();
    b.d.observe(3.2);
    b.q.observe(120);
    b.s.observe(50);
  };
}

function telemetryAfter(): (i: number) => void {
  const t = new WaypointTelemetry(new MeshMetrics({ component: 'waypoint', tcp: false }), false);
  return () =>
    t.record({
      method: 'GET',
      path: '/',
      authority: 'payments',
      status: 200,
      flag: '-',
      durationMs: 3.2,
      requestBytes: 120,
      responseBytes: 50,
      protocol: 'http',
      sourceWorkload: src,
      destinationWorkload: dst,
      service,
      attempts: 1,
    });
}

const noop = (): void => undefined;
const tracer = new Tracer({ serviceName: 'bench', log: createLogger('bench') });
const rows: Array<[string, number, number]> = [
  ['telemetry', nsPerCall(telemetryBefore()), nsPerCall(telemetryAfter())],
  [
    'cancellation',
    nsPerCall(() => {
      const ac = new AbortController();
      ac.signal.addEventListener('abort', noop, { once: true });
      ac.signal.removeEventListener('abort', noop);
    }),
    nsPerCall(() => {
      onCancel(new RequestCancel(), noop)();
    }),
  ],
  [
    'trace and span ids',
    nsPerCall(() => randomBytes(8).toString('hex') + randomBytes(16).toString('hex')),
    nsPerCall(() => tracer.start(undefined, 0)),
  ],
];
process.stdout.write(`waypoint hot path, ${N} calls each: ns per request before → after\n`);
for (const [name, before, after] of rows)
  process.stdout.write(
    `${name.padEnd(20)} ${before.toFixed(0).padStart(7)} → ${after.toFixed(0).padStart(6)}  (${(before / after).toFixed(1)}×)\n`,
  );
