// networking.istio.io Gateway → GatewayConfig: servers (port, protocol, hosts, TLS) and the
// routes of the VirtualServices bound to the gateway through `gateways`. A host with no bound
// VirtualService gets no virtual host (the gateway answers 404).
import { byKey, compact } from './collections.js';
import { hostMatches } from '../../core/mesh/hosts.js';
import { l4RoutesFor } from './l4-routes.js';
import { routesFor, type VsIndex } from './virtual-services.js';
import type { ClusterSet } from './l7-build.js';
import type { IstioObject } from './decode-object.js';
import type { GatewaySpec } from '../../core/crds/types.js';
import type { GatewayConfig, GatewayServer, VirtualHost } from '../../core/model/l7.js';
import type { PortProtocol, Service } from '../../core/model/types.js';

const SERVER_PROTOCOL: Record<string, PortProtocol> = {
  HTTP: 'http',
  HTTP2: 'http2',
  GRPC: 'grpc',
  HTTPS: 'https',
  TLS: 'tls',
  TCP: 'tcp',
  MONGO: 'mongo',
};

/**
 * A server port's protocol (validated, any case) as the gateway serves it: GRPC-WEB is HTTP;
 * MYSQL, REDIS and UDP are served as plain TCP.
 */
const SERVED_AS: Readonly<Record<string, GatewayServer['protocol']>> = {
  HTTP: 'HTTP',
  HTTPS: 'HTTPS',
  HTTP2: 'HTTP2',
  GRPC: 'GRPC',
  'GRPC-WEB': 'HTTP',
  TLS: 'TLS',
  TCP: 'TCP',
  MONGO: 'MONGO',
  MYSQL: 'TCP',
  REDIS: 'TCP',
  UDP: 'TCP',
};

export interface GatewayContext {
  readonly domain: string;
  readonly vsIndex: VsIndex;
  readonly byHost: ReadonlyMap<string, Service>;
  readonly clusters: ClusterSet;
}

/** Server host `ns/host` or `host`: does it admit VirtualService host `vsHost` from `vsNs`? */
function serverAdmits(serverHost: string, vsHost: string, vsNs: string): boolean {
  const slash = serverHost.indexOf('/');
  const ns = slash >= 0 ? serverHost.slice(0, slash) : '*';
  const host = slash >= 0 ? serverHost.slice(slash + 1) : serverHost;
  if (ns !== '*' && ns !== '.' && ns !== vsNs) return false;
  return hostMatches(host, vsHost);
}

export function buildGatewayConfig(gw: IstioObject<GatewaySpec>, ctx: GatewayContext): GatewayConfig {
  const ns = gw.metadata.namespace ?? 'default';
  const key = `${ns}/${gw.metadata.name}`;
  const { spec } = gw;
  const servers: GatewayServer[] = (spec.servers ?? []).map(({ port, hosts, tls }) =>
    compact({
      port: port.number,
      name: port.name,
      protocol: SERVED_AS[port.protocol.toUpperCase()] ?? 'HTTP',
      hosts,
      tls: tls
        ? compact({
            mode: tls.mode ?? 'SIMPLE',
            credentialName: tls.credentialName,
            serverCertificate: tls.serverCertificate,
            privateKey: tls.privateKey,
            caCertificates: tls.caCertificates,
            httpsRedirect: tls.httpsRedirect,
          })
        : undefined,
    }),
  );
  const bound = ctx.vsIndex.entries.filter((e) => e.gateways.includes(key));
  const virtualHosts = new Map<string, VirtualHost>();
  for (const server of servers) {
    for (const vs of bound) {
      for (const vsHost of vs.hosts) {
        if (!server.hosts.some((h) => serverAdmits(h, vsHost, vs.ns))) continue;
        const name = `${vsHost}:${server.port}`;
        if (virtualHosts.has(name)) continue;
        const routes = routesFor(ctx.vsIndex, vsHost, key, ns, {
          domain: ctx.domain,
          services: ctx.byHost,
          port: server.port,
          gateway: key,
          needCluster: ctx.clusters.need,
        });
        // TCP and TLS servers route connections by the VirtualService's `tcp` / `tls` (SNI) routes.
        const l4Ctx = {
          domain: ctx.domain,
          services: ctx.byHost,
          port: server.port,
          gateway: key,
          needCluster: ctx.clusters.need,
        };
        const l4 = server.protocol === 'TCP' || server.protocol === 'TLS' || server.protocol === 'MONGO';
        const tcpRoutes = l4 ? l4RoutesFor(ctx.vsIndex, 'tcp', vsHost, key, ns, l4Ctx) : [];
        const tlsRoutes = server.protocol === 'TLS' ? l4RoutesFor(ctx.vsIndex, 'tls', vsHost, key, ns, l4Ctx) : [];
        const svc = ctx.byHost.get(vsHost);
        virtualHosts.set(
          name,
          compact({
            name,
            host: vsHost,
            port: server.port,
            protocol: SERVER_PROTOCOL[server.protocol] ?? 'http',
            domains: vsHost.startsWith('*') ? [vsHost] : [vsHost, name],
            vips: svc?.vips ?? [],
            serviceKey: svc?.key,
            routes,
            tcpRoutes: tcpRoutes.length > 0 ? tcpRoutes : undefined,
            tlsRoutes: tlsRoutes.length > 0 ? tlsRoutes : undefined,
          }),
        );
      }
    }
  }
  return {
    key,
    namespace: ns,
    name: gw.metadata.name,
    selector: { ...spec.selector },
    servers,
    virtualHosts: [...virtualHosts.values()].sort(byKey((v) => v.name)),
    clusters: ctx.clusters.list(),
  };
}
