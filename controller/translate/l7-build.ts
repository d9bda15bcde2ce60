// Assemble the L7 configs: one WaypointConfig per namespace whose services use a waypoint,
// one GatewayConfig per Istio Gateway. A later mesh VirtualService for a host an older one
// routes is rejected first (IST0109); a route to an undefined subset is kept and answers 503.
import { isIPv6 } from 'node:net';
import { byKey } from './collections.js';
import { contentVersionOf } from './version.js';
import { DestinationRules, buildCluster } from './destination-rules.js';
import {
  indexVirtualServices,
  meshConflictsRemoved,
  routesFor,
  VsIndex,
  type RouteContext,
} from './virtual-services.js';
import { buildGatewayConfig } from './gateways.js';
import { buildGatewayApiConfigs } from './gateway-api.js';
import { httpRouteRoutes } from './http-routes.js';
import { l4RoutesFor } from './l4-routes.js';
import { rejectionFor, type Inventory, type Rejection } from './inventory.js';
import { wasmPluginsFor, type WasmPluginSource } from './wasm-plugins.js';
import type { ObjectOrigin } from '../sources/types.js';
import { clusterName } from '../../core/model/l7.js';
import type {
  Cluster,
  GatewayConfig,
  RequestAuthentication,
  VirtualHost,
  WaypointConfig,
} from '../../core/model/l7.js';
import type { MeshConfig, MeshSnapshot, Service, Workload } from '../../core/model/types.js';

export interface L7Input {
  readonly inv: Inventory;
  readonly mesh: MeshConfig;
  readonly domain: string;
  readonly snapshot: MeshSnapshot;
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly requestAuthentications: readonly RequestAuthentication[];
  readonly rejected: Rejection[];
  readonly origins?: ReadonlyMap<string, ObjectOrigin>;
  /** Valid WasmPlugins (wasm-plugins.ts); each waypoint gets those that reach it. */
  readonly wasmPlugins?: readonly WasmPluginSource[];
  /** Build only these namespaces' waypoint configs, and gateways only when true (incremental translation). */
  readonly only?: { readonly namespaces: ReadonlySet<string>; readonly gateways: boolean };
}

/** Collects the clusters routes need, built once each. */
export class ClusterSet {
  private readonly clusters = new Map<string, Cluster>();
  constructor(
    private readonly services: ReadonlyMap<string, Service>,
    private readonly workloads: ReadonlyMap<string, Workload>,
    private readonly drs: DestinationRules,
    private readonly clientNs: string,
  ) {}
  need = (host: string, port: number, subset: string | undefined): void => {
    if (this.clusters.has(clusterName(host, port, subset))) return;
    const c = buildCluster(host, port, subset, this.services.get(host), this.workloads, this.drs, this.clientNs);
    if (!this.clusters.has(c.name)) this.clusters.set(c.name, c);
  };
  list(): Cluster[] {
    return [...this.clusters.values()].sort(byKey((c) => c.name));
  }
}

export function domainsFor(svc: Service, port: number, domain: string): string[] {
  const out = new Set<string>([svc.hostname, `${svc.hostname}:${port}`]);
  const suffix = `.${svc.namespace}.svc.${domain}`;
  if (svc.hostname.endsWith(suffix)) {
    const short = svc.hostname.slice(0, -suffix.length);
    for (const n of [short, `${short}.${svc.namespace}`, `${short}.${svc.namespace}.svc`]) {
      out.add(n);
      out.add(`${n}:${port}`);
    }
  }
  // A tunnel's authority (and a Host header) writes an IPv6 VIP in brackets: [fd00::10]:80.
  for (const vip of svc.vips) out.add(isIPv6(vip) ? `[${vip}]:${port}` : `${vip}:${port}`);
  return [...out];
}

export function buildL7(input: L7Input): {
  waypoints: Map<string, WaypointConfig>;
  gateways: Map<string, GatewayConfig>;
} {
  const { inv, mesh, domain } = input;
  const drs = new DestinationRules(inv, domain, mesh.rootNamespace);
  const byHost = new Map(input.services.map((s) => [s.hostname, s] as const));
  const byUid = new Map(input.workloads.map((w) => [w.uid, w] as const));
  // A route to an undefined subset is kept and answers 503 at run time, as in Istio (analyze reports it).
  const vsIndex = new VsIndex(
    meshConflictsRemoved(indexVirtualServices(inv, domain), (vs, field, reason) =>
      input.rejected.push(rejectionFor(vs.obj, field, reason, input.origins)),
    ),
  );
  const httpRoutes = httpRouteRoutes(inv);

  const waypoints = new Map<string, WaypointConfig>();
  const served = new Map<string, Service[]>();
  const names = new Map<string, string>();
  for (const svc of input.services) {
    if (!svc.waypoint) continue;
    const ns = svc.waypoint.namespace;
    const list = served.get(ns);
    if (list) list.push(svc);
    else served.set(ns, [svc]);
    if (!names.has(ns)) names.set(ns, svc.waypoint.name);
  }
  for (const [ns, services] of served) {
    if (input.only && !input.only.namespaces.has(ns)) continue;
    const clusters = new ClusterSet(byHost, byUid, drs, ns);
    const virtualHosts: VirtualHost[] = [];
    for (const svc of services) {
      for (const sp of svc.ports) {
        const ctx: RouteContext = { domain, services: byHost, port: sp.port, needCluster: clusters.need };
        const gammaRoutes = httpRoutes.routesFor(svc, ctx);
        const routes = gammaRoutes ?? routesFor(vsIndex, svc.hostname, 'mesh', ns, ctx);
        const tcpRoutes = gammaRoutes ? [] : l4RoutesFor(vsIndex, 'tcp', svc.hostname, 'mesh', ns, ctx);
        const tlsRoutes = gammaRoutes ? [] : l4RoutesFor(vsIndex, 'tls', svc.hostname, 'mesh', ns, ctx);
        // The default cluster of every served port, so subset-less traffic always has one.
        clusters.need(svc.hostname, sp.port, undefined);
        virtualHosts.push({
          name: `${svc.hostname}:${sp.port}`,
          host: svc.hostname,
          port: sp.port,
          protocol: sp.protocol,
          domains: domainsFor(svc, sp.port, domain),
          vips: svc.vips,
          serviceKey: svc.key,
          routes,
          ...(tcpRoutes.length > 0 ? { tcpRoutes } : {}),
          ...(tlsRoutes.length > 0 ? { tlsRoutes } : {}),
        });
      }
    }
    const inScope = (scopeNs: string): boolean => scopeNs === ns || scopeNs === mesh.rootNamespace;
    const wasmPlugins = wasmPluginsFor(input.wasmPlugins, ns, names.get(ns) ?? '', services, mesh.rootNamespace);
    const body = {
      namespace: ns,
      waypoint: names.get(ns) ?? '',
      mesh,
      virtualHosts: virtualHosts.sort(byKey((v) => v.name)),
      clusters: clusters.list(),
      authorizationPolicies: input.snapshot.authorizationPolicies.filter((p) => inScope(p.scope.namespace)),
      requestAuthentications: input.requestAuthentications.filter((p) => inScope(p.scope.namespace)),
      peerAuthentications: input.snapshot.peerAuthentications.filter((p) => inScope(p.scope.namespace)),
      ...(wasmPlugins.length > 0 ? { wasmPlugins } : {}),
    };
    waypoints.set(ns, { ...body, version: contentVersionOf(body) });
  }

  const gateways = new Map<string, GatewayConfig>();
  if (input.only && !input.only.gateways) return { waypoints, gateways };
  for (const gw of inv.gateways) {
    const cfg = buildGatewayConfig(gw, {
      domain,
      vsIndex,
      byHost,
      clusters: new ClusterSet(byHost, byUid, drs, gw.metadata.namespace ?? 'default'),
    });
    gateways.set(cfg.key, cfg);
  }
  for (const cfg of buildGatewayApiConfigs(inv, domain, byHost, (ns) => new ClusterSet(byHost, byUid, drs, ns)))
    gateways.set(cfg.key, cfg);
  return { waypoints, gateways };
}
