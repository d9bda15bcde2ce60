// VirtualService `tcp[]` and `tls[]` → the L4Routes of one service host+port. As for HTTP
// routes, the most specific VirtualServices for the host are merged in creation order and
// the first matching route wins per connection. A match block for another port or gateway
// drops out; a route whose every block dropped out is not for this port. `tls` routes match
// on the ClientHello's SNI (`sniHosts`), read at the waypoint without terminating TLS.
import { compact, num, rec, recs, str, strs, stringMap, type Raw } from './raw.js';
import {
  matchForGateway,
  routeDestinations,
  virtualServicesFor,
  type RouteContext,
  type VsEntry,
  type VsIndex,
} from './virtual-services.js';
import type { L4Match, L4Route } from '../../core/model/l7.js';

export type L4RouteKind = 'tcp' | 'tls';

function translateL4Match(m: Raw, kind: L4RouteKind): L4Match {
  return compact<L4Match>({
    port: num(m.port),
    destinationSubnets: Array.isArray(m.destinationSubnets) ? strs(m.destinationSubnets) : undefined,
    sourceLabels: m.sourceLabels ? stringMap(m.sourceLabels) : undefined,
    sourceNamespace: str(m.sourceNamespace),
    sniHosts: kind === 'tls' ? strs(m.sniHosts).map((h) => h.toLowerCase()) : undefined,
  });
}

/** One `tcp[i]` / `tls[i]` entry for the context's port, or undefined when its matches exclude the port. */
export function translateL4Route(
  vs: VsEntry,
  kind: L4RouteKind,
  index: number,
  raw: Raw,
  ctx: RouteContext,
): L4Route | undefined {
  const gateway = ctx.gateway ?? 'mesh';
  const rawMatches = recs(raw.match);
  const matches = rawMatches
    .filter((m) => (num(m.port) === undefined || num(m.port) === ctx.port) && matchForGateway(vs, m, gateway))
    .map((m) => translateL4Match(m, kind));
  if (rawMatches.length > 0 && matches.length === 0) return undefined;
  const rawRoutes = recs(raw.route);
  if (rawRoutes.length === 0) return undefined;
  return {
    source: vs.key,
    name: `${vs.key}#${kind}${index}`,
    matches,
    destinations: routeDestinations(vs, rawRoutes, ctx),
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
    recs(rec(vs.obj.spec)?.[kind]).forEach((raw, i) => {
      const r = translateL4Route(vs, kind, i, raw, ctx);
      if (r) routes.push(r);
    });
  }
  return routes;
}
