// Gateway API ingress: a gateway.networking.k8s.io Gateway of a class other than the
// waypoint classes, with the HTTPRoutes whose parentRefs name it → GatewayConfig (the same
// shape as an Istio Gateway). Listeners become servers; route `hostnames` (default `*`)
// become virtual hosts per listener port, with routes in the Gateway API's precedence order
// (http-routes.ts).
import { byKey, compact } from './collections.js';
import { hostMatches } from '../../core/mesh/hosts.js';
import { isWaypointGateway } from './waypoint-refs.js';
import { GATEWAY_NAME_LABEL } from '../../core/mesh/vocabulary.js';
import { ageKey, compareGamma, translateRule, type GammaEntry } from './http-routes.js';
import { ReferenceGrants } from './reference-grants.js';
import type { ClusterSet } from './l7-build.js';
import type { Inventory } from './inventory.js';
import type { HttpRoute, K8sGateway } from './decode-kube.js';
import type { GatewayConfig, GatewayServer, VirtualHost } from '../../core/model/l7.js';
import type { Service } from '../../core/model/types.js';

const PROTOCOLS: Record<string, GatewayServer['protocol']> = { HTTP: 'HTTP', HTTPS: 'HTTPS', TLS: 'TLS', TCP: 'TCP' };

function attaches(route: HttpRoute, gw: K8sGateway, listener: { name?: string; port: number }): boolean {
  const routeNs = route.metadata.namespace ?? 'default';
  return (route.spec.parentRefs ?? []).some(
    (p) =>
      (p.kind ?? 'Gateway') === 'Gateway' &&
      p.name === gw.metadata.name &&
      (p.namespace ?? routeNs) === (gw.metadata.namespace ?? 'default') &&
      (p.sectionName === undefined || p.sectionName === listener.name) &&
      (p.port === undefined || p.port === listener.port),
  );
}

export function buildGatewayApiConfigs(
  inv: Inventory,
  domain: string,
  byHost: ReadonlyMap<string, Service>,
  clustersFor: (namespace: string) => ClusterSet,
): GatewayConfig[] {
  const routes = [...inv.httpRoutes].sort(byKey(ageKey));
  const grants = new ReferenceGrants(inv.referenceGrants);
  return inv.k8sGateways
    .filter((gw) => !isWaypointGateway(gw))
    .map((gw) => {
      const ns = gw.metadata.namespace ?? 'default';
      const clusters = clustersFor(ns);
      const listeners = gw.spec.listeners ?? [];
      const servers: GatewayServer[] = listeners.map((l) => {
        const tls = l.tls;
        return compact({
          port: l.port,
          name: l.name,
          protocol: PROTOCOLS[l.protocol ?? 'HTTP'] ?? 'HTTP',
          hosts: [l.hostname ?? '*'],
          tls: tls
            ? compact({
                mode: tls.mode === 'Passthrough' ? ('PASSTHROUGH' as const) : ('SIMPLE' as const),
                credentialName: tls.certificateRefs?.[0]?.name,
              })
            : undefined,
        });
      });
      const virtualHosts = new Map<string, { vh: Omit<VirtualHost, 'routes'>; routes: GammaEntry[] }>();
      listeners.forEach((l, i) => {
        const server = servers[i];
        if (!server) return;
        for (const route of routes) {
          if (!attaches(route, gw, { name: l.name, port: server.port })) continue;
          const hostnames = route.spec.hostnames ?? [];
          for (const host of hostnames.length > 0 ? hostnames : ['*']) {
            if (!server.hosts.some((h) => hostMatches(h, host))) continue;
            const name = `${host}:${server.port}`;
            let slot = virtualHosts.get(name);
            if (!slot) {
              slot = {
                vh: {
                  name,
                  host,
                  port: server.port,
                  protocol: server.protocol === 'HTTPS' ? 'https' : 'http',
                  domains: host.startsWith('*') ? [host] : [host, name],
                  vips: [],
                },
                routes: [],
              };
              virtualHosts.set(name, slot);
            }
            const ctx = {
              domain,
              services: byHost,
              port: server.port,
              gateway: `${ns}/${gw.metadata.name}`,
              needCluster: clusters.need,
            };
            (route.spec.rules ?? []).forEach((rule, n) =>
              slot.routes.push(...translateRule(route, n, rule, ctx, grants, ageKey(route))),
            );
          }
        }
      });
      return {
        key: `${ns}/${gw.metadata.name}`,
        namespace: ns,
        name: gw.metadata.name,
        selector: { [GATEWAY_NAME_LABEL]: gw.metadata.name },
        servers,
        virtualHosts: [...virtualHosts.values()]
          .map((s) => ({ ...s.vh, routes: s.routes.sort(compareGamma).map((e) => e.route) }))
          .sort(byKey((v) => v.name)),
        clusters: clusters.list(),
      };
    });
}
