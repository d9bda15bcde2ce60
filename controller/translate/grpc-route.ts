// Gateway API GRPCRoute → HttpRoutes at the waypoint of its parent Service (GAMMA). A gRPC
// call is an HTTP/2 POST to `/<service>/<method>`, so a method match is a path match: both
// names exact → the exact path; the service alone → the prefix `/<service>/`; the method
// alone, or RegularExpression → a regex over the path. Header matches, header modifiers, the
// mirror and weighted backendRefs are HTTPRoute's (http-routes.ts). The waypoint speaks HTTP/2
// (h2c inside the tunnel) to ports whose protocol is grpc or http2.
import { compact } from './collections.js';
import { backendDestinations, commonFilters, valueMatches } from './http-routes.js';
import type { ReferenceGrants, RefOrigin } from './reference-grants.js';
import type { RouteContext } from './virtual-services.js';
import type { GrpcRoute } from './decode-kube.js';
import type { GrpcRouteRule } from '../../core/crds/gateway-api.js';
import type { HttpMatch, HttpRoute, StringMatch } from '../../core/model/l7.js';

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The path match of a GRPCRoute method match (undefined: any method of any service). */
type GrpcMatch = NonNullable<GrpcRouteRule['matches']>[number];

export function grpcPathMatch(method: GrpcMatch['method']): StringMatch | undefined {
  if (!method) return undefined;
  const service = method.service;
  const name = method.method;
  if (service === undefined && name === undefined) return undefined;
  if (method.type === 'RegularExpression') {
    return { type: 'regex', value: `/${service ?? '[^/]+'}/${name ?? '[^/]+'}` };
  }
  if (service !== undefined && name !== undefined) return { type: 'exact', value: `/${service}/${name}` };
  if (service !== undefined) return { type: 'prefix', value: `/${service}/` };
  return { type: 'regex', value: `/[^/]+/${escapeRegex(name ?? '')}` };
}

function grpcMatch(m: GrpcMatch): HttpMatch {
  return compact({ uri: grpcPathMatch(m.method), headers: valueMatches(m.headers, true) });
}

/** One GRPCRoute rule (all its matches) → an HttpRoute. */
export function translateGrpcRule(
  route: GrpcRoute,
  index: number,
  rule: GrpcRouteRule,
  ctx: RouteContext,
  grants: ReferenceGrants,
): HttpRoute {
  const ns = route.metadata.namespace ?? 'default';
  const from: RefOrigin = { kind: 'GRPCRoute', namespace: ns, grants };
  return compact({
    source: `GRPCRoute/${ns}/${route.metadata.name}`,
    name: `${ns}/${route.metadata.name}#${index}`,
    matches: (rule.matches ?? []).map(grpcMatch),
    ...backendDestinations(rule.backendRefs ?? [], from, ctx),
    ...commonFilters(rule.filters ?? [], from, ctx),
  });
}
