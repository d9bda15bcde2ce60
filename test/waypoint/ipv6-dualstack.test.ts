// IPv6 through a real waypoint on loopback: the HBONE listener on :: takes IPv4 and IPv6
// clients, a tunnel to `[v6 VIP]:port` selects the service (the controller writes IPv6 VIPs
// in brackets), the upstream tunnel to an IPv6 endpoint carries `[v6]:port`, an IPv6
// `forwarded` client is believed for its own workload, and ipBlocks with IPv6 ranges apply.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainsFor } from '../../controller/translate/l7-build.js';
import { acceptTunnel, createHboneServer, HbonePool, splitHostPort, type HboneServer } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import { createLogger } from '../../core/log.js';
import { createMeshMetrics } from '../../core/metrics/mesh-metrics.js';
import { clusterName } from '../../core/model/l7.js';
import type { AuthorizationPolicy, Service } from '../../core/model/types.js';
import { WaypointRuntime } from '../../waypoint/runtime.js';
import { WaypointServer } from '../../waypoint/server.js';
import { tunnelSource } from '../../waypoint/source-identity.js';
import { WaypointTelemetry } from '../../waypoint/telemetry.js';
import { http1Transport, type EndpointTransport } from '../../waypoint/upstream/transport.js';
import { testCa, testCredentials } from '../support/pki.js';
import { APP_PORT, clientWorkload, HOST, to, VIP, vhost, waypointConfig } from '../support/waypoint-harness.js';

const VIP6 = 'fd00:96::7';
const SVC_PORT = APP_PORT;

function policy(
  name: string,
  action: AuthorizationPolicy['action'],
  rules: AuthorizationPolicy['rules'],
): AuthorizationPolicy {
  return { key: `coffee-shop/${name}`, name, scope: { namespace: 'coffee-shop', level: 'namespace' }, action, rules };
}

describe('waypoint: IPv6 clients, VIPs and endpoints', () => {
  const closers: Array<() => unknown> = [];
  const upstreamAuthorities: string[] = [];
  const appSeen: Array<{ url: string; xff: string | undefined }> = [];
  let waypointPort = 0;
  let waypointCreds: Credentials;
  let clientCreds: Credentials;
  const pool = new HbonePool();
  const transports = new Map<string, EndpointTransport>();

  beforeAll(async () => {
    const ca = await testCa();
    waypointCreds = await testCredentials(ca, 'coffee-shop', 'waypoint');
    clientCreds = await testCredentials(ca, 'coffee-shop', 'web-frontend');
    const podCreds = await testCredentials(ca, 'coffee-shop', 'customer-service');
    // The pod: an app on ::1 behind an HBONE terminator on ::1 (its "agent").
    const app = http.createServer((req, res) => {
      appSeen.push({ url: req.url ?? '', xff: req.headers['x-forwarded-for'] as string | undefined });
      res.end(`hello from ${req.socket.localAddress}`);
    });
    await new Promise<void>((r) => app.listen(0, '::1', r));
    const appPort = (app.address() as AddressInfo).port;
    const terminator: HboneServer = createHboneServer({
      credentials: () => podCreds,
      trustDomain: 'cluster.local',
      handler: (req) => {
        upstreamAuthorities.push(req.authority);
        const target = splitHostPort(req.authority);
        const tunnel = acceptTunnel(req);
        if (!target) {
          tunnel.destroy();
          return;
        }
        const sock = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
        tunnel.pipe(sock).pipe(tunnel);
        sock.on('error', () => tunnel.destroy());
        tunnel.on('error', () => sock.destroy());
      },
    });
    const hboneAddr = (await terminator.listen({ host: '::1', port: 0 })) as AddressInfo;

    const log = createLogger('waypoint-ipv6-test');
    const metrics = createMeshMetrics({ component: 'waypoint', http: true });
    const runtime = new WaypointRuntime({
      pool: new HbonePool(),
      credentials: () => waypointCreds,
      log,
      localIp: '::1',
      hbonePort: hboneAddr.port,
      metrics,
    });
    // The service's domains as the controller writes them, for both VIPs.
    const svc = { hostname: HOST, namespace: 'coffee-shop', vips: [VIP, VIP6] } as unknown as Service;
    const cluster = {
      name: clusterName(HOST, SVC_PORT, undefined),
      host: HOST,
      port: SVC_PORT,
      protocol: 'http' as const,
      serviceKey: `coffee-shop/${HOST}`,
      trafficPolicy: {},
      endpoints: [
        {
          address: '::1',
          port: appPort,
          identity: podCreds.identity,
          labels: { app: 'customer-service' },
          hbone: true,
        },
      ],
    };
    const base = waypointConfig([{ source: 'default', matches: [], destinations: [to(undefined)] }], [cluster]);
    const config = {
      ...base,
      virtualHosts: [
        {
          ...vhost([{ source: 'default', matches: [], destinations: [to(undefined)] }]),
          domains: domainsFor(svc, SVC_PORT, 'cluster.local'),
          vips: [VIP, VIP6],
        },
      ],
      authorizationPolicies: [
        policy('deny-admin', 'DENY', [{ to: [{ paths: ['/admin*'] }] }]),
        policy('deny-range', 'DENY', [{ from: [{ ipBlocks: ['fd00:bad::/64'] }] }]),
      ],
    };
    const problems = runtime.apply(config, [
      { ...clientWorkload('web', '10.244.0.9'), ips: ['10.244.0.9', 'fd00:44::9'] },
      clientWorkload('web-bad', 'fd00:bad::5'),
    ]);
    expect(problems).toEqual([]);
    const server = new WaypointServer({
      credentials: () => waypointCreds,
      trustDomain: 'cluster.local',
      transports: runtime.transports,
      log,
      pipeline: () => runtime.pipeline(),
      telemetry: new WaypointTelemetry(metrics, false),
      selfIdentity: () => waypointCreds.identity,
    });
    // `::` as the waypoint's default host: one socket for both families.
    waypointPort = ((await server.listen({ host: '::', port: 0 })) as AddressInfo).port;
    closers.push(
      () => {
        for (const t of transports.values()) t.close();
        pool.destroy();
      },
      () => server.close(100),
      () => runtime.close(),
      () => terminator.close({ force: true }),
      () =>
        new Promise<void>((r) => {
          app.closeAllConnections();
          app.close(() => r());
        }),
    );
  }, 30_000);

  afterAll(async () => {
    for (const close of closers) await close();
  });

  /** GET `path` through a tunnel to the waypoint at `waypointHost`, for `authority`, from `forwardedFor`. */
  async function get(
    waypointHost: string,
    authority: string,
    forwardedFor: string,
    path: string,
  ): Promise<{ status: number; body: string }> {
    const key = `${waypointHost}|${authority}|${forwardedFor}`;
    let t = transports.get(key);
    if (!t) {
      t = http1Transport(() =>
        pool.connect({
          source: clientCreds,
          target: {
            address: waypointHost,
            port: waypointPort,
            authority,
            expectedIdentities: [waypointCreds.identity],
          },
          forwardedFor,
        }),
      );
      transports.set(key, t);
    }
    const res = await t.request({
      method: 'GET',
      path,
      authority: `customer-service:${SVC_PORT}`,
      headers: {},
      body: undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    return { status: res.status, body: Buffer.concat(chunks).toString() };
  }

  it('writes an IPv6 VIP domain in brackets', () => {
    const domains = domainsFor(
      { hostname: HOST, namespace: 'coffee-shop', vips: [VIP, VIP6] } as unknown as Service,
      SVC_PORT,
      'cluster.local',
    );
    expect(domains).toContain(`[${VIP6}]:${SVC_PORT}`);
    expect(domains).toContain(`${VIP}:${SVC_PORT}`);
  });

  it('an IPv4 and an IPv6 client, to the IPv4 and the IPv6 VIP, all reach the IPv6 endpoint over HBONE', async () => {
    const cases: Array<[string, string, string]> = [
      ['127.0.0.1', `${VIP}:${SVC_PORT}`, '10.244.0.9:40000'],
      ['::1', `[${VIP6}]:${SVC_PORT}`, '[fd00:44::9]:40001'],
      ['::1', `${VIP}:${SVC_PORT}`, '[fd00:44::9]:40002'],
      ['127.0.0.1', `[${VIP6}]:${SVC_PORT}`, '10.244.0.9:40003'],
    ];
    for (const [host, authority, fwd] of cases) {
      const seen = appSeen.length;
      const res = await get(host, authority, fwd, '/orders');
      expect(res, `${host} → ${authority}`).toEqual({ status: 200, body: 'hello from ::1' });
      // The believed client address reaches the app without brackets or a port.
      expect(appSeen[seen]?.xff).toBe(fwd.startsWith('[') ? 'fd00:44::9' : '10.244.0.9');
    }
    expect(upstreamAuthorities.length).toBeGreaterThan(0);
    for (const a of upstreamAuthorities) expect(a).toMatch(/^\[::1\]:\d+$/);
  });

  it('an unknown IPv6 VIP is refused at CONNECT', async () => {
    await expect(get('::1', `[fd00:96::99]:${SVC_PORT}`, '[fd00:44::9]:40010', '/orders')).rejects.toThrow();
  });

  it('an L7 DENY on a path denies it over both families; another path passes over both', async () => {
    expect((await get('127.0.0.1', `${VIP}:${SVC_PORT}`, '10.244.0.9:40020', '/admin/x')).status).toBe(403);
    expect((await get('::1', `[${VIP6}]:${SVC_PORT}`, '[fd00:44::9]:40021', '/admin/x')).status).toBe(403);
    expect((await get('127.0.0.1', `${VIP}:${SVC_PORT}`, '10.244.0.9:40020', '/menu')).status).toBe(200);
    expect((await get('::1', `[${VIP6}]:${SVC_PORT}`, '[fd00:44::9]:40021', '/menu')).status).toBe(200);
  });

  it('an IPv6 ipBlocks DENY matches a believed IPv6 client in the range, not one outside it', async () => {
    expect((await get('::1', `[${VIP6}]:${SVC_PORT}`, '[fd00:bad::5]:40030', '/menu')).status).toBe(403);
    expect((await get('::1', `[${VIP6}]:${SVC_PORT}`, '[fd00:44::9]:40031', '/menu')).status).toBe(200);
  });
});

describe('tunnelSource on a dual-stack listener', () => {
  const WEB = 'spiffe://cluster.local/ns/coffee-shop/sa/web-frontend';
  it('reports an IPv4 peer seen as ::ffff:a.b.c.d in its IPv4 form, and keeps IPv6 peers', () => {
    const byIp = new Map([['fd00:44::9', clientWorkload('web', 'fd00:44::9')]]);
    const base = { peerIdentity: WEB, remotePort: 50000, workloadsByIp: byIp, forwarded: undefined };
    expect(tunnelSource({ ...base, remoteAddress: '::ffff:10.0.0.1' }).ip).toBe('10.0.0.1');
    expect(tunnelSource({ ...base, remoteAddress: 'fd00:44::1' }).ip).toBe('fd00:44::1');
    expect(tunnelSource({ ...base, remoteAddress: '::1', forwarded: 'for="[fd00:44::9]:4000"' })).toEqual({
      ip: 'fd00:44::9',
      port: 4000,
      namespace: 'coffee-shop',
    });
  });
});
