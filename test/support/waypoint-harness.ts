// A waypoint on loopback with real HBONE on both sides: "pods" are HTTP servers on
// 127.0.0.x, each behind a small HBONE terminator standing in for its node agent; clients
// reach the waypoint through an HBONE tunnel with a workload identity, as an agent would.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptTunnel, createHboneServer, HbonePool, type HboneServer } from '../../core/hbone/index.js';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';
import { createLogger } from '../../core/log.js';
import { createMeshMetrics, type MeshMetrics } from '../../core/metrics/mesh-metrics.js';
import type { Cluster, HttpRoute, VirtualHost, WaypointConfig } from '../../core/model/l7.js';
import type { Locality, Workload } from '../../core/model/types.js';
import { clusterName } from '../../core/model/l7.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { WaypointRuntime, type RuntimeOptions } from '../../waypoint/runtime.js';
import { WaypointServer } from '../../waypoint/server.js';
import { WaypointTelemetry } from '../../waypoint/telemetry.js';
import type { Tracer } from '../../waypoint/tracing.js';
import {
  http1Transport,
  http2Transport,
  type EndpointTransport,
  type UpstreamResponse,
} from '../../waypoint/upstream/transport.js';
import { testCredentials } from './pki.js';

export type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

export interface Pod {
  readonly name: string;
  readonly ip: string;
  readonly labels: Record<string, string>;
  readonly identity: string;
  readonly locality?: Locality;
  /** Requests this pod served, newest last. */
  readonly seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
  behaviour: Behaviour;
}

export const HOST = 'customer-service.coffee-shop.svc.cluster.local';
export const VIP = '10.96.0.7';
export const APP_PORT = 18080;

export const answerWithName: Behaviour = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'x-pod': String(req.socket.localAddress) });
  res.end(`hello from ${req.socket.localAddress}`);
};

export class WaypointHarness {
  readonly pods: Pod[] = [];
  private readonly closers: Array<() => Promise<void> | void> = [];
  runtime!: WaypointRuntime;
  server!: WaypointServer;
  waypointPort = 0;
  metrics!: MeshMetrics;
  telemetry!: WaypointTelemetry;
  waypointCreds!: Credentials;
  private clientPool = new HbonePool();
  hbonePort = 0;

  constructor(private readonly ca: CertificateAuthority) {}

  /** Starts pods on 127.0.0.<base+i>, each serving APP_PORT behind an HBONE terminator. Suites run
   *  in parallel: each test file uses its own `base` (routing 30, resilience 60, security 70,
   *  telemetry 80, robustness 85, tracing 90). */
  async startPods(
    specs: Array<{ name: string; labels: Record<string, string>; sa?: string; locality?: Locality }>,
    base = 30,
  ): Promise<void> {
    // One HBONE port for every pod (as 15008 is), free on each pod IP.
    this.hbonePort = 20000 + Math.floor(Math.random() * 20000);
    for (const [i, spec] of specs.entries()) {
      const ip = `127.0.0.${base + i}`;
      const creds = await testCredentials(this.ca, 'coffee-shop', spec.sa ?? spec.labels.app ?? spec.name);
      const pod: Pod = {
        name: spec.name,
        ip,
        labels: spec.labels,
        identity: creds.identity,
        seen: [],
        behaviour: answerWithName,
        ...(spec.locality ? { locality: spec.locality } : {}),
      };
      const app = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          pod.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
          pod.behaviour(req, res, body);
        });
      });
      await new Promise<void>((r) => app.listen(APP_PORT, ip, r));
      const hbone = createHboneServer({
        credentials: () => creds,
        trustDomain: 'cluster.local',
        handler: (req) => {
          const tunnel = acceptTunnel(req);
          const [host, port] = [
            req.authority.slice(0, req.authority.lastIndexOf(':')),
            Number(req.authority.slice(req.authority.lastIndexOf(':') + 1)),
          ];
          const sock = net.connect({ host, port, allowHalfOpen: true });
          tunnel.pipe(sock).pipe(tunnel);
          sock.on('error', () => tunnel.destroy());
          tunnel.on('error', () => sock.destroy());
        },
      });
      await hbone.listen({ host: ip, port: this.hbonePort });
      this.pods.push(pod);
      this.closers.push(
        () =>
          new Promise<void>((r) => {
            app.closeAllConnections();
            app.close(() => r());
          }),
        () => closeHbone(hbone),
      );
    }
  }

  async startWaypoint(
    config: WaypointConfig,
    opts: {
      random?: () => number;
      locality?: Locality;
      workloads?: readonly Workload[];
      accessLog?: boolean;
      headersTimeoutMs?: number;
      tracer?: Tracer;
      jwks?: RuntimeOptions['jwks'];
    } = {},
  ): Promise<void> {
    this.waypointCreds = await testCredentials(this.ca, 'coffee-shop', 'waypoint');
    const log = createLogger('waypoint-test');
    this.metrics = createMeshMetrics({ component: 'waypoint', http: true });
    const pool = new HbonePool();
    this.runtime = new WaypointRuntime({
      pool,
      credentials: () => this.waypointCreds,
      log,
      localIp: '127.0.0.1',
      hbonePort: this.hbonePort,
      metrics: this.metrics,
      ...(opts.random ? { random: opts.random } : {}),
      ...(opts.locality ? { locality: opts.locality } : {}),
      ...(opts.jwks ? { jwks: opts.jwks } : {}),
    });
    const problems = this.runtime.apply(config, opts.workloads ?? []);
    if (problems.length > 0) throw new Error(problems.join('; '));
    this.telemetry = new WaypointTelemetry(
      this.metrics,
      opts.accessLog ?? false,
      () => this.runtime.pipeline()?.config,
    );
    this.server = new WaypointServer({
      credentials: () => this.waypointCreds,
      trustDomain: 'cluster.local',
      transports: this.runtime.transports,
      log,
      pipeline: () => this.runtime.pipeline(),
      telemetry: this.telemetry,
      selfIdentity: () => this.waypointCreds.identity,
      ...(opts.tracer ? { tracer: opts.tracer } : {}),
      ...(opts.headersTimeoutMs ? { headersTimeoutMs: opts.headersTimeoutMs } : {}),
    });
    const addr = (await this.server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
    this.waypointPort = addr.port;
    this.closers.push(
      () => this.server.close(),
      () => pool.destroy(),
      () => this.runtime.close(),
    );
  }

  /** One HTTP/1.1 request from `sa` to the service VIP through the waypoint. */
  async request(
    opts: {
      sa?: string;
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string;
      h2?: boolean;
      authority?: string;
      forwardedFor?: string;
      signal?: AbortSignal;
    } = {},
  ): Promise<{ status: number; headers: UpstreamResponse['headers']; body: string }> {
    const transport = await this.transport(opts.sa ?? 'web-frontend', opts.h2 ?? false, opts.forwardedFor);
    {
      const res = await transport.request({
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        authority: opts.authority ?? `customer-service:${APP_PORT}`,
        headers: opts.headers ?? {},
        body: opts.body === undefined ? undefined : Buffer.from(opts.body),
        signal: opts.signal ?? AbortSignal.timeout(15_000),
      });
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      return { status: res.status, headers: res.headers, body: Buffer.concat(chunks).toString() };
    }
  }

  /** One keep-alive client per (identity, protocol), as an agent pools its tunnels. */
  private readonly transports = new Map<string, EndpointTransport>();
  private async transport(sa: string, h2: boolean, forwardedFor = '10.244.0.9:40000'): Promise<EndpointTransport> {
    const key = `${sa}|${h2}|${forwardedFor}`;
    let t = this.transports.get(key);
    if (!t) {
      const source = await this.clientCreds(sa);
      const dial = (): Promise<Duplex> =>
        this.clientPool.connect({
          source,
          target: {
            address: '127.0.0.1',
            port: this.waypointPort,
            authority: `${VIP}:${APP_PORT}`,
            expectedIdentities: [this.waypointCreds.identity],
          },
          forwardedFor,
        });
      t = h2 ? http2Transport(dial) : http1Transport(dial);
      this.transports.set(key, t);
    }
    return t;
  }

  /** A raw tunnel to the waypoint (bytes as the client app wrote them), for malformed input. */
  async rawTunnel(sa = 'web-frontend'): Promise<Duplex> {
    return this.clientPool.connect({
      source: await this.clientCreds(sa),
      target: {
        address: '127.0.0.1',
        port: this.waypointPort,
        authority: `${VIP}:${APP_PORT}`,
        expectedIdentities: [this.waypointCreds.identity],
      },
      forwardedFor: '10.244.0.9:40000',
    });
  }

  private readonly credsCache = new Map<string, Credentials>();
  private async clientCreds(sa: string): Promise<Credentials> {
    let c = this.credsCache.get(sa);
    if (!c) {
      c = await testCredentials(this.ca, 'coffee-shop', sa);
      this.credsCache.set(sa, c);
    }
    return c;
  }

  async close(): Promise<void> {
    for (const t of this.transports.values()) t.close();
    this.clientPool.destroy();
    for (const close of this.closers.reverse()) await close();
  }

  /** Cluster of the given pods (all pods when no filter). */
  cluster(subset: string | undefined, filter: (p: Pod) => boolean, policy: Cluster['trafficPolicy'] = {}): Cluster {
    return {
      name: clusterName(HOST, APP_PORT, subset),
      host: HOST,
      port: APP_PORT,
      ...(subset ? { subset } : {}),
      protocol: 'http',
      serviceKey: `coffee-shop/${HOST}`,
      trafficPolicy: policy,
      endpoints: this.pods.filter(filter).map((p) => ({
        address: p.ip,
        port: APP_PORT,
        identity: p.identity,
        labels: p.labels,
        hbone: true,
        ...(p.locality ? { locality: p.locality } : {}),
      })),
    };
  }
}

export function vhost(routes: HttpRoute[], protocol: VirtualHost['protocol'] = 'http'): VirtualHost {
  return {
    name: `${HOST}:${APP_PORT}`,
    host: HOST,
    port: APP_PORT,
    protocol,
    serviceKey: `coffee-shop/${HOST}`,
    domains: [
      `${HOST}:${APP_PORT}`,
      `customer-service:${APP_PORT}`,
      `customer-service.coffee-shop:${APP_PORT}`,
      `${VIP}:${APP_PORT}`,
    ],
    vips: [VIP],
    routes,
  };
}

export function waypointConfig(
  routes: HttpRoute[],
  clusters: Cluster[],
  extra: Partial<WaypointConfig> = {},
): WaypointConfig {
  return {
    namespace: 'coffee-shop',
    waypoint: 'waypoint',
    version: String(Date.now()),
    mesh: DEFAULT_MESH_CONFIG,
    virtualHosts: [vhost(routes)],
    clusters,
    authorizationPolicies: [],
    requestAuthentications: [],
    peerAuthentications: [],
    ...extra,
  };
}

export function to(subset: string | undefined, weight = 100): NonNullable<HttpRoute['destinations']>[number] {
  return {
    host: HOST,
    port: APP_PORT,
    weight,
    cluster: clusterName(HOST, APP_PORT, subset),
    ...(subset ? { subset } : {}),
  };
}

/** A client workload in coffee-shop: the waypoint believes a `forwarded` address only for one of these with the caller's identity. */
export function clientWorkload(
  name: string,
  ip: string,
  sa = 'web-frontend',
  labels: Record<string, string> = { app: sa },
): Workload {
  return {
    uid: `Pod/coffee-shop/${name}`,
    kind: 'Pod',
    name,
    namespace: 'coffee-shop',
    serviceAccount: sa,
    identity: `spiffe://cluster.local/ns/coffee-shop/sa/${sa}`,
    ips: [ip],
    node: 'node-1',
    labels,
    enrolled: true,
  };
}

function closeHbone(s: HboneServer): Promise<void> {
  return s.close({ force: true });
}
