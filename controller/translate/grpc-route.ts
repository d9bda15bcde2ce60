// Gateway API GRPCRoute → HttpRoutes at the waypoint of its parent Service (GAMMA). A gRPC
// call is an HTTP/2 POST to `/<service>/<method>`, so a method match is a path match: both
// names exact → the exact path; the service alone → the prefix `/<service>/`; the method
// alone, or RegularExpression → a regex over the path. Header matches, header modifiers, the
// mirror and weighted backendRefs are HTTPRoute's (http-routes.ts). The waypoint speaks HTTP/2
// (h2c inside the tunnel) to ports whose protocol is grpc or http2.
import { compact, rec, recs, str, type Raw } from './raw.js';
import { backendDestinations, commonFilters, valueMatches } from './http-routes.js';
import type { ReferenceGrants, RefOrigin } from './reference-grants.js';
import type { RouteContext } from './virtual-services.js';
import type { KubeObject } from '../sources/types.js';
import type { HttpMatch, HttpRoute, StringMatch } from '../../core/model/l7.js';

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The path match of a GRPCRoute method match (undefined: any method of any service). */
export function grpcPathMatch(method: Raw | undefined): StringMatch | undefined {
  if (!method) return undefined;
  const service = str(method.service);
  const name = str(method.method);
  if (service === undefined && name === undefined) return undefined;
  if (str(method.type) === 'RegularExpression') {
    return { type: 'regex', value: `/${service ?? '[^/]+'}/${name ?? '[^/]+'}` };
  }
  if (service !== undefined && name !== undefined) return { type: 'exact', value: `/${service}/${name}` };
  if (service !== undefined) return { type: 'prefix', value: `/${service}/` };
  return { type: 'regex', value: `/[^/]+/${escapeRegex(name ?? '')}` };
}

function grpcMatch(m: Raw): HttpMatch {
  return compact({ uri: grpcPathMatch(rec(m.method)), headers: valueMatches(m.headers, true) });
}

/** One GRPCRoute rule (all its matches) → an HttpRoute. */
export function translateGrpcRule(
  route: KubeObject,
  index: number,
  rule: Raw,
  ctx: RouteContext,
  grants: ReferenceGrants,
): HttpRoute {
  const ns = route.metadata.namespace ?? 'default';
  const from: RefOrigin = { kind: 'GRPCRoute', namespace: ns, grants };
  return compact({
    source: `GRPCRoute/${ns}/${route.metadata.name}`,
    name: `${ns}/${route.metadata.name}#${index}`,
    matches: recs(rule.matches).map(grpcMatch),
    ...backendDestinations(recs(rule.backendRefs), from, ctx),
    ...commonFilters(recs(rule.filters), from, ctx),
  });
}
