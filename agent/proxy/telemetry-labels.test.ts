// The agent's metric labels mean what the waypoint's mean (a workload is its owner's name, the
// hop to a waypoint names the waypoint), and the Telemetry API applies to the reporting pod:
// CLIENT overrides to its outbound connections, SERVER to its inbound ones, access log lines
// to the provider's file when a connection closes.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { MeshMetrics } from '../../core/metrics/mesh-metrics.js';
import { DEFAULT_MESH_CONFIG, type MeshConfig, type Service, type Workload } from '../../core/model/types.js';
import { pollUntil } from '../../test/support/wait.js';
import { ConnectionTracker, type ConnectionRecord, type MeshView } from './connections.js';

const NS = 'coffee-shop';
const id = (sa: string): string => `spiffe://cluster.local/ns/${NS}/sa/${sa}`;
const waypoint = { name: 'waypoint', namespace: NS, address: '10.244.0.50', identity: id('waypoint') };

function workload(name: string, workloadName: string, ip: string, labels: Record<string, string>): Workload {
  return {
    uid: `Pod/${NS}/${name}`,
    kind: 'Pod',
    name,
    workloadName,
    namespace: NS,
    serviceAccount: labels.app ?? name,
    identity: id(labels.app ?? name),
    ips: [ip],
    labels,
    enrolled: true,
  };
}

const web = workload('web-frontend-0', 'web-frontend', '10.244.0.10', { app: 'web-frontend', version: 'v1' });
const order = workload('order-service-0', 'order-service', '10.244.0.11', { app: 'order-service', version: 'v2' });
const wpPod = workload('waypoint-waypoint', 'waypoint', waypoint.address, {
  'gateway.networking.k8s.io/gateway-name': 'waypoint',
});
const customer: Service = {
  key: `${NS}/customer-service.${NS}.svc.cluster.local`,
  name: 'customer-service',
  namespace: NS,
  hostname: `customer-service.${NS}.svc.cluster.local`,
  vips: ['10.96.0.20'],
  ports: [{ port: 8080, targetPort: 8080, protocol: 'http' }],
  endpoints: [],
  waypoint,
};

function view(mesh: MeshConfig): MeshView {
  const byIp = new Map([web, order, wpPod].map((w) => [w.ips[0]!, w]));
  return {
    snapshot: { mesh },
    workloadByIp: (ip) => byIp.get(ip),
    serviceByVip: (ip, port) => (ip === '10.96.0.20' && port === 8080 ? { service: customer } : undefined),
  };
}

// What the handlers record: the local pod as the proxy knows it (pod name), the remote by address.
const outboundToOrder: ConnectionRecord = {
  direction: 'outbound',
  src: { ip: web.ips[0]!, port: 40000, identity: web.identity, workload: web.name, namespace: NS },
  dst: { ip: order.ips[0]!, port: 8080, identity: order.identity, workload: order.name, namespace: NS },
  route: 'hbone',
  security: 'mutual_tls',
};
const outboundViaWaypoint: ConnectionRecord = {
  direction: 'outbound',
  src: outboundToOrder.src,
  dst: { ip: '10.96.0.20', port: 8080, identity: waypoint.identity },
  service: customer.key,
  route: 'waypoint',
  security: 'mutual_tls',
};
const inboundFromWaypoint: ConnectionRecord = {
  direction: 'inbound',
  src: { ip: waypoint.address, port: 41000, identity: waypoint.identity },
  dst: { ip: order.ips[0]!, port: 8080, identity: order.identity, workload: order.name, namespace: NS },
  route: 'hbone',
  security: 'mutual_tls',
};

type Sample = { labels: Record<string, string>; value: number };
function samples(text: string, name: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => {
      const close = l.lastIndexOf('}');
      const labels: Record<string, string> = {};
      for (const m of l.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
      return { labels, value: Number(l.slice(close + 1)) };
    });
}

function run(tracker: ConnectionTracker, c: ConnectionRecord, bytes = 10): void {
  tracker.open(c).done({ fromClient: bytes, toClient: bytes * 2, reason: 'done' });
}

describe('agent metric labels', () => {
  it('name workloads by their owner, and the hop to a waypoint by the waypoint', async () => {
    const metrics = new MeshMetrics({ component: 'agent', http: false });
    const tracker = new ConnectionTracker(metrics, createLogger('t1-labels'), () => view(DEFAULT_MESH_CONFIG));
    run(tracker, outboundToOrder);
    run(tracker, outboundViaWaypoint);
    run(tracker, inboundFromWaypoint);
    const opened = samples(await metrics.text(), 'istio_tcp_connections_opened_total');
    const direct = opened.find((s) => s.labels.reporter === 'source' && s.labels.destination_workload !== 'waypoint');
    expect(direct?.labels).toMatchObject({
      source_workload: 'web-frontend',
      source_app: 'web-frontend',
      source_version: 'v1',
      destination_workload: 'order-service',
      destination_version: 'v2',
    });
    const hop = opened.find((s) => s.labels.reporter === 'source' && s.labels.destination_workload === 'waypoint');
    expect(hop?.labels).toMatchObject({
      destination_workload_namespace: NS,
      destination_principal: waypoint.identity,
      destination_service: customer.hostname,
      destination_service_name: 'customer-service',
    });
    const relayed = opened.find((s) => s.labels.reporter === 'destination');
    expect(relayed?.labels).toMatchObject({
      source_workload: 'waypoint',
      source_principal: waypoint.identity,
      destination_workload: 'order-service',
    });
    // No label value is a pod name.
    for (const s of opened) for (const v of Object.values(s.labels)) expect(v).not.toMatch(/-0$|waypoint-waypoint/);
  });

  it('without a mesh view, the handler-given names are kept (no crash, no unknown where known)', async () => {
    const metrics = new MeshMetrics({ component: 'agent', http: false });
    const tracker = new ConnectionTracker(metrics, createLogger('t1-labels'));
    run(tracker, { ...outboundToOrder, src: { ...outboundToOrder.src, workloadName: 'web-frontend' } });
    const [s] = samples(await metrics.text(), 'istio_tcp_connections_opened_total');
    expect(s?.labels.source_workload).toBe('web-frontend');
  });
});

describe('Telemetry API at the agent', () => {
  let dir: string;
  let logFile: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-t1-agent-'));
    logFile = path.join(dir, 'access.log');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('CLIENT overrides reach outbound connections only; SERVER access logs are written on close', async () => {
    const mesh: MeshConfig = {
      ...DEFAULT_MESH_CONFIG,
      telemetry: [
        {
          key: `${NS}/l4`,
          scope: { namespace: NS, level: 'namespace' },
          metrics: [
            { metrics: ['TCP_SENT_BYTES'], mode: 'CLIENT', disabled: true, tags: [] },
            {
              metrics: [],
              mode: 'CLIENT_AND_SERVER',
              tags: [{ tag: 'destination_port', operation: 'UPSERT', value: { attribute: 'destination.port' } }],
            },
          ],
          accessLogging: [{ mode: 'SERVER', sinks: [{ provider: 'file-log', path: logFile }] }],
        },
      ],
    };
    const metrics = new MeshMetrics({ component: 'agent', http: false });
    const tracker = new ConnectionTracker(metrics, createLogger('t1-telemetry'), () => view(mesh));
    run(tracker, outboundToOrder, 7);
    run(tracker, inboundFromWaypoint, 5);
    const text = await metrics.text();
    const sent = samples(text, 'istio_tcp_sent_bytes_total');
    expect(sent.map((s) => s.labels.reporter)).toEqual(['destination']);
    expect(sent[0]!.value).toBe(10);
    const opened = samples(text, 'istio_tcp_connections_opened_total');
    expect(opened.map((s) => s.labels.destination_port).sort()).toEqual(['8080', '8080']);
    const entries = await pollUntil(
      async () => {
        const body = await readFile(logFile, 'utf8').catch(() => '');
        const got = body.split('\n').filter((l) => l !== '');
        return got.length >= 1 ? got.map((l) => JSON.parse(l) as Record<string, unknown>) : undefined;
      },
      { what: 'the access log line', timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      reporter: 'destination',
      bytes_received: 5,
      bytes_sent: 10,
      source_principal: waypoint.identity,
      connection_security_policy: 'mutual_tls',
    });
  });
});
