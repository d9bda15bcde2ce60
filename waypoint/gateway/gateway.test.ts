// The gateway runtime on loopback: real listeners, the shared L7 pipeline, and "pods" behind
// HBONE terminators (test/support/waypoint-harness.ts). Host and path routing, httpsRedirect, HTTPS
// SIMPLE with SNI selection, MUTUAL, PASSTHROUGH by SNI, TCP, a policy at the gateway, and
// the hop into the mesh made with the gateway's identity.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import { createLogger } from '../../core/log.js';
import { createMeshMetrics } from '../../core/metrics/mesh-metrics.js';
import { clusterName, type Cluster, type GatewayConfig, type VirtualHost } from '../../core/model/l7.js';
import type { AuthorizationPolicy } from '../../core/model/types.js';
import { makePki, type TestPki } from '../../test/e2e/ingress-pki.js';
import { testCa, testCredentials } from '../../test/support/pki.js';
import { freePort } from '../../test/support/net.js';
import { pollUntil } from '../../test/support/wait.js';
import { APP_PORT, HOST, WaypointHarness } from '../../test/support/waypoint-harness.js';
import { WaypointRuntime } from '../runtime.js';
import { WaypointTelemetry } from '../telemetry.js';
import { folderCredentials, GatewayCredentials } from './credentials.js';
import { clusterService, gatewayPeer, gatewayReporter, GatewayTcpMetrics } from './gateway-reporter.js';
import { GatewayRuntime } from './gateway-runtime.js';
import { GatewayListeners } from './listeners.js';

const BASE = 110; // pods on 127.0.0.110+
// Free ports, asked of the kernel when the suite starts (never a guess that another suite may hold).
let HTTP_PORT = 0;
let HTTPS_PORT = 0;
let TLS_PORT = 0;
let TCP_PORT = 0;
const TLS_APP_PORT = 18443;

let harness: WaypointHarness;
let pki: TestPki;
let gatewayCreds: Credentials;
let runtime: WaypointRuntime;
let gateway: GatewayRuntime;
let listeners: GatewayListeners;
let credentials: GatewayCredentials;
let pool: HbonePool;
let tlsApp: tls.Server;
const tlsAppSni: string[] = [];
let dir: string;
let metrics: ReturnType<typeof createMeshMetrics>;

const vh = (host: string, port: number, routes: VirtualHost['routes'], protocol: VirtualHost['protocol'] = 'http') => ({
  name: `${host}:${port}`,
  host,
  port,
  protocol,
  domains: [host],
  vips: [],
  routes,
});
const toShop = (prefix?: string) => ({
  source: 'shop/vs',
  name: prefix ?? 'all',
  matches: prefix ? [{ uri: { type: 'prefix' as const, value: prefix } }] : [],
  destinations: [{ host: HOST, port: APP_PORT, weight: 100, cluster: clusterName(HOST, APP_PORT) }],
});

function gatewayConfig(clusters: Cluster[]): GatewayConfig {
  return {
    key: 'shop/ingress',
    namespace: 'shop',
    name: 'ingress',
    selector: { istio: 'ingressgateway' },
    servers: [
      { port: HTTP_PORT, protocol: 'HTTP', hosts: ['shop.example.com', 'api.example.com'] },
      {
        port: HTTP_PORT,
        protocol: 'HTTP',
        hosts: ['secure.example.com'],
        tls: { mode: 'SIMPLE', httpsRedirect: true },
      },
      {
        port: HTTPS_PORT,
        protocol: 'HTTPS',
        hosts: ['shop.example.com'],
        tls: { mode: 'SIMPLE', credentialName: 'shop' },
      },
      {
        port: HTTPS_PORT,
        protocol: 'HTTPS',
        hosts: ['api.example.com'],
        tls: { mode: 'SIMPLE', credentialName: 'api' },
      },
      {
        port: HTTPS_PORT,
        protocol: 'HTTPS',
        hosts: ['mtls.example.com'],
        tls: { mode: 'MUTUAL', credentialName: 'mtls' },
      },
      { port: TLS_PORT, protocol: 'TLS', hosts: ['db.example.com'], tls: { mode: 'PASSTHROUGH' } },
      { port: TCP_PORT, protocol: 'TCP', hosts: ['*'] },
    ],
    virtualHosts: [
      vh('shop.example.com', HTTP_PORT, [toShop('/shop')]),
      vh('api.example.com', HTTP_PORT, [toShop()]),
      vh('shop.example.com', HTTPS_PORT, [toShop()]),
      vh('api.example.com', HTTPS_PORT, [toShop()]),
      vh('mtls.example.com', HTTPS_PORT, [toShop()]),
      vh(
        'db.example.com',
        TLS_PORT,
        [
          {
            source: 'shop/db',
            name: 'db',
            matches: [],
            destinations: [{ host: 'db', port: TLS_APP_PORT, weight: 100, cluster: clusterName('db', TLS_APP_PORT) }],
          },
        ],
        'tls',
      ),
      vh('*', TCP_PORT, [toShop()], 'tcp'),
    ],
    clusters,
  };
}

const denyAdmin = (): AuthorizationPolicy => ({
  key: 'shop/deny-admin',
  name: 'deny-admin',
  scope: { namespace: 'shop', level: 'workload', selector: { istio: 'ingressgateway' } },
  action: 'DENY',
  // Ports: the L4 form of a DENY keeps its ports, so TCP servers stay open.
  rules: [{ to: [{ paths: ['/shop/admin*'], ports: [String(HTTP_PORT)] }] }],
});

beforeAll(async () => {
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  [HTTP_PORT, HTTPS_PORT, TLS_PORT, TCP_PORT] = [...ports] as [number, number, number, number];
  dir = mkdtempSync(path.join(tmpdir(), 'ambit-gateway-'));
  pki = makePki(dir);
  pki.credential('shop', ['shop.example.com']);
  pki.credential('api', ['api.example.com']);
  pki.credential('mtls', ['mtls.example.com'], { withCa: true });
  const ca = await testCa();
  harness = new WaypointHarness(ca);
  await harness.startPods([{ name: 'web-0', labels: { app: 'web' } }], BASE);
  const pod = harness.pods[0]!;
  // A TLS server behind the pod's HBONE terminator: what PASSTHROUGH must reach untouched.
  const dbCert = pki.credential('db', ['db.example.com']);
  tlsApp = tls.createServer({ cert: dbCert.cert, key: dbCert.key }, (s) => {
    tlsAppSni.push(String((s as tls.TLSSocket & { servername?: string }).servername));
    s.end('db says hi');
  });
  await new Promise<void>((r) => tlsApp.listen(TLS_APP_PORT, pod.ip, r));
  gatewayCreds = await testCredentials(ca, 'istio-system', 'istio-ingressgateway');
  pool = new HbonePool();
  const log = createLogger('gateway-test');
  metrics = createMeshMetrics({ component: 'waypoint', http: true });
  // Labelled as Istio's ingress gateway (a Deployment's pod in its namespace), as startGateway does.
  const telemetry = new WaypointTelemetry(metrics, false);
  const self = gatewayPeer({
    podName: 'istio-ingressgateway-7d4f9c8b6d-q2x8z',
    namespace: 'shop',
    labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
    identity: gatewayCreds.identity,
  });
  telemetry.reportAs(gatewayReporter(self));
  runtime = new WaypointRuntime({
    pool,
    credentials: () => gatewayCreds,
    log,
    localIp: '127.0.0.1',
    hbonePort: harness.hbonePort,
  });
  credentials = new GatewayCredentials({ reader: folderCredentials(dir), log, refreshMs: 0 });
  listeners = new GatewayListeners({
    transports: runtime.transports,
    credentials,
    log,
    host: '127.0.0.1',
    pipeline: () => runtime.pipeline(),
    telemetry,
    selfIdentity: () => gatewayCreds.identity,
    tcpMetrics: new GatewayTcpMetrics(metrics, self),
  });
  gateway = new GatewayRuntime({
    self: { namespace: 'shop', labels: { istio: 'ingressgateway' }, trustDomain: 'cluster.local' },
    runtime,
    listeners,
    credentials,
    log,
  });
  const shop = harness.cluster(undefined, () => true);
  const db: Cluster = {
    ...shop,
    name: clusterName('db', TLS_APP_PORT),
    host: 'db',
    port: TLS_APP_PORT,
    protocol: 'tls',
    endpoints: shop.endpoints.map((e) => ({ ...e, port: TLS_APP_PORT })),
  };
  const problems = gateway.apply(
    [gatewayConfig([shop, db])],
    {
      mesh: undefined,
      authorizationPolicies: [denyAdmin()],
      peerAuthentications: [],
    },
    [],
  );
  expect(problems).toEqual([]);
  await gateway.settled();
}, 60_000);

afterAll(async () => {
  await listeners?.close();
  credentials?.close();
  runtime?.close();
  pool?.destroy();
  await new Promise<void>((r) => (tlsApp ? tlsApp.close(() => r()) : r()));
  await harness?.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(
  port: number,
  host: string,
  urlPath: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

function httpsGet(
  servername: string,
  urlPath: string,
  client?: { cert: string; key: string },
): Promise<{ status: number; body: string; peerCn: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port: HTTPS_PORT,
        servername,
        path: urlPath,
        headers: { host: servername },
        ca: pki.caCert,
        agent: false,
        checkServerIdentity: (name, cert) => tls.checkServerIdentity(servername, cert),
        ...(client ?? {}),
      },
      (res) => {
        let body = '';
        const peerCn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '');
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCn }));
      },
    );
    req.on('error', reject);
  });
}

describe('gateway: HTTP servers', () => {
  it('routes by Host (the client port is ignored) and by path, into the mesh over HBONE as the gateway', async () => {
    const ok = await get(HTTP_PORT, 'shop.example.com:8080', '/shop/menu');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('hello from 127.0.0.110');
    const seen = harness.pods[0]!.seen.at(-1)!;
    expect(seen.url).toBe('/shop/menu');
    expect(seen.headers['x-forwarded-client-cert']).toContain(`By=${gatewayCreds.identity}`);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    // Same host, a path the VirtualService does not route: 404; a host no server admits: 404.
    const other = await get(HTTP_PORT, 'shop.example.com', '/other');
    expect(other.body).toBe('route not found');
    expect(other.status).toBe(404);
    expect((await get(HTTP_PORT, 'api.example.com', '/anything')).status).toBe(200);
    expect((await get(HTTP_PORT, 'unknown.example.com', '/shop/menu')).status).toBe(404);
  });

  it('answers httpsRedirect with 301 to the https URL', async () => {
    const res = await get(HTTP_PORT, 'secure.example.com:8080', '/login?next=1');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('https://secure.example.com/login?next=1');
  });

  it('enforces an AuthorizationPolicy that selects the gateway', async () => {
    const denied = await get(HTTP_PORT, 'shop.example.com', '/shop/admin/users');
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('RBAC: access denied');
    expect((await get(HTTP_PORT, 'shop.example.com', '/shop/menu')).status).toBe(200);
  });
});

describe('gateway: TLS servers', () => {
  it('terminates HTTPS with the certificate of the server the SNI names', async () => {
    const shop = await httpsGet('shop.example.com', '/x');
    expect(shop.status).toBe(200);
    expect(shop.peerCn).toBe('shop.example.com');
    expect(harness.pods[0]!.seen.at(-1)!.headers['x-forwarded-proto']).toBe('https');
    const api = await httpsGet('api.example.com', '/y');
    expect(api.status).toBe(200);
    expect(api.peerCn).toBe('api.example.com');
  });

  it('MUTUAL: refuses a client without a certificate, serves one with a certificate of the CA', async () => {
    await expect(httpsGet('mtls.example.com', '/z')).rejects.toThrow();
    const ok = await httpsGet('mtls.example.com', '/z', pki.client('curl'));
    expect(ok.status).toBe(200);
    expect(ok.peerCn).toBe('mtls.example.com');
  });

  it('refuses a ClientHello for a name no server has', async () => {
    await expect(httpsGet('nobody.example.com', '/')).rejects.toThrow();
  });

  it('PASSTHROUGH: forwards the untouched TLS stream to the route its SNI selects', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: TLS_PORT, servername: 'db.example.com', ca: pki.caCert }, () => {
        expect(s.getPeerCertificate().subject?.CN).toBe('db.example.com');
      });
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(text).toBe('db says hi');
    expect(tlsAppSni).toContain('db.example.com');
  });
});

describe('gateway: TCP servers', () => {
  it('forwards bytes to the route of the port', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: TCP_PORT }, () =>
        s.write('GET /tcp HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
      );
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(harness.pods[0]!.seen.at(-1)!.url).toBe('/tcp');
  });
});

/** The series of one metric in the gateway's registry, as label maps with their value. */
async function seriesOf(name: string): Promise<Array<Record<string, string> & { value: string }>> {
  const text = await metrics.registry.metrics();
  return [...text.matchAll(new RegExp(`^${name}\\{(.*)\\} (\\S+)$`, 'gm'))].map((m) => ({
    ...Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!])),
    value: m[2]!,
  }));
}

describe('gateway: request metrics labelled as Istio labels its gateways', () => {
  it('reporter source, the gateway as source, the routed-to service and workload as destination', async () => {
    expect((await get(HTTP_PORT, 'api.example.com', '/metrics-ok')).status).toBe(200);
    expect((await get(HTTP_PORT, 'shop.example.com', '/shop/admin/metrics')).status).toBe(403);
    const series = await seriesOf('istio_requests_total');
    const ok = series.find((s) => s.response_code === '200');
    expect(ok).toMatchObject({
      reporter: 'source',
      source_workload: 'istio-ingressgateway',
      source_workload_namespace: 'shop',
      source_principal: gatewayCreds.identity,
      source_app: 'istio-ingressgateway',
      destination_service: 'customer-service.coffee-shop.svc.cluster.local',
      destination_service_name: 'customer-service',
      destination_service_namespace: 'coffee-shop',
      destination_workload: 'web',
      destination_principal: harness.pods[0]!.identity,
      connection_security_policy: 'mutual_tls',
    });
    // Denied at the gateway: the route was matched, so the service it routes to is named.
    const denied = series.find((s) => s.response_code === '403');
    expect(denied).toMatchObject({ reporter: 'source', destination_service_name: 'customer-service' });
    expect(series.every((s) => s.reporter === 'source' && s.source_workload === 'istio-ingressgateway')).toBe(true);
  });

  it('TCP connections: Istio TCP metrics with the same labels, bytes counted once closed', async () => {
    // Series of connections to customer-service (PASSTHROUGH to db has its own).
    const value = async (name: string) =>
      Number((await seriesOf(name)).find((x) => x.destination_service_name === 'customer-service')?.value ?? 0);
    const counts = async () => ({
      opened: await value('istio_tcp_connections_opened_total'),
      closed: await value('istio_tcp_connections_closed_total'),
      received: await value('istio_tcp_received_bytes_total'),
      sent: await value('istio_tcp_sent_bytes_total'),
    });
    // Earlier suites' connections to the same service are all counted as closed first.
    await pollUntil(async () => ((c) => c.opened === c.closed)(await counts()), {
      what: 'earlier TCP connections counted as closed',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const before = await counts();
    const request = 'GET /tcp-metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: TCP_PORT }, () => s.write(request));
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    // The relay ends after the client's side: wait for the close to be counted.
    await pollUntil(async () => (await counts()).closed > before.closed, {
      what: 'the TCP connection counted as closed',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const after = await counts();
    expect({
      opened: after.opened - before.opened,
      closed: after.closed - before.closed,
      received: after.received - before.received,
      sent: after.sent - before.sent,
    }).toEqual({ opened: 1, closed: 1, received: Buffer.byteLength(request), sent: Buffer.byteLength(answer) });
    const series = (await seriesOf('istio_tcp_connections_opened_total')).find(
      (x) => x.destination_service_name === 'customer-service',
    );
    expect(series).toMatchObject({
      reporter: 'source',
      source_workload: 'istio-ingressgateway',
      source_principal: gatewayCreds.identity,
      destination_service: 'customer-service.coffee-shop.svc.cluster.local',
      destination_service_namespace: 'coffee-shop',
      destination_workload: 'web',
      connection_security_policy: 'mutual_tls',
      request_protocol: 'tcp',
    });
  });

  it('names a Kubernetes service by its short name and a ServiceEntry host in full', () => {
    expect(
      clusterService({ host: 'web.shop.svc.cluster.local', serviceKey: 'shop/web.shop.svc.cluster.local' }),
    ).toEqual({ hostname: 'web.shop.svc.cluster.local', name: 'web', namespace: 'shop' });
    expect(clusterService({ host: 'api.example.com', serviceKey: 'egress/api.example.com' })).toEqual({
      hostname: 'api.example.com',
      name: 'api.example.com',
      namespace: 'egress',
    });
    expect(clusterService({ host: 'api.example.com' })).toEqual({
      hostname: 'api.example.com',
      name: 'api.example.com',
      namespace: '',
    });
  });
});
