// VirtualService `tcp[]` and `tls[]` → the L4Routes of one service host+port. As for HTTP
// routes, the most specific VirtualServices for the host are merged in creation order and
// the first matching route wins per connection. A match block for another port or gateway
// drops out; a route whose every block dropped out is not for this port. `tls` routes match
// on the ClientHello's SNI (`sniHosts`), read at the waypoint without terminating TLS.
import { compact } from './collections.js';
import {
  matchForGateway,
  routeDestinations,
  virtualServicesFor,
  type RouteContext,
  type VsEntry,
  type VsIndex,
} from './virtual-services.js';
import type { L4Match, L4Route } from '../../core/model/l7.js';
import type { L4MatchSpec, L4RouteSpec } from './virtual-service-spec.js';

export type L4RouteKind = 'tcp' | 'tls';

function translateL4Match(m: L4MatchSpec, kind: L4RouteKind): L4Match {
  return compact<L4Match>({
    port: m.port,
    destinationSubnets: m.destinationSubnets,
    sourceLabels: m.sourceLabels,
    sourceNamespace: m.sourceNamespace,
    sniHosts: kind === 'tls' ? ('sniHosts' in m ? m.sniHosts : []).map((h) => h.toLowerCase()) : undefined,
  });
}

/** One `tcp[i]` / `tls[i]` entry for the context's port, or undefined when its matches exclude the port. */
export function translateL4Route(
  vs: VsEntry,
  kind: L4RouteKind,
  index: number,
  spec: L4RouteSpec,
  ctx: RouteContext,
): L4Route | undefined {
  const gateway = ctx.gateway ?? 'mesh';
  const specMatches: readonly L4MatchSpec[] = spec.match ?? [];
  const matches = specMatches
    .filter((m) => (m.port === undefined || m.port === ctx.port) && matchForGateway(vs, m, gateway))
    .map((m) => translateL4Match(m, kind));
  if (specMatches.length > 0 && matches.length === 0) return undefined;
  if (!spec.route || spec.route.length === 0) return undefined;
  return {
    source: vs.key,
    name: `${vs.key}#${kind}${index}`,
    matches,
    destinations: routeDestinations(vs, spec.route, ctx),
  };
}

/** The `tcp` or `tls` routes for (host, port) on `gateway`, seen from `clientNs`; empty when none. */
export function l4RoutesFor(
  index: VsIndex,
  kind: L4RouteKind,
  host: string,
  gateway: string,
  clientNs: string,
  ctx: RouteContext,
): L4Route[] {
  const routes: L4Route[] = [];
  for (const vs of virtualServicesFor(index, host, gateway, clientNs)) {
    const specs: readonly L4RouteSpec[] = vs.obj.spec[kind] ?? [];
    specs.forEach((spec, i) => {
      const r = translateL4Route(vs, kind, i, spec, ctx);
      if (r) routes.push(r);
    });
  }
  return routes;
}
