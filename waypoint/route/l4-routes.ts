// VirtualService `tcp` and `tls` routes at the waypoint: which destination one connection goes
// to. Conditions in a match block are ANDed, blocks ORed, a route without blocks takes every
// connection; first matching route wins; the weighted pick is per connection (a connection is
// routed whole). Compiled once per config version: the compiled form hangs off the immutable
// VirtualHost object of that version.
import { anyCidrContains, parseCidr, parseIp } from '../../core/authz/ip-match.js';
import { hostMatches } from '../../core/mesh/hosts.js';
import type { L4Match, L4Route, RouteDestination, VirtualHost } from '../../core/model/l7.js';
import type { Labels } from '../../core/model/types.js';

/** What is known about a connection when it is routed. */
export interface L4Connection {
  /** Service port the tunnel targets. */
  readonly port: number;
  /** The tunnel's target address (the service VIP, or an endpoint IP). */
  readonly destinationIp?: string;
  readonly sourceLabels?: Labels;
  readonly sourceNamespace?: string;
  /** SNI of the ClientHello (lower case); only `tls` routes look at it. */
  readonly serverName?: string;
}

type Predicate = (c: L4Connection) => boolean;

interface CompiledL4Route {
  readonly route: L4Route;
  readonly matches: Predicate;
  readonly cumulative: readonly number[];
  readonly total: number;
}

interface CompiledL4Routes {
  readonly tcp: readonly CompiledL4Route[];
  readonly tls: readonly CompiledL4Route[];
}

function compileMatch(m: L4Match): Predicate {
  const checks: Predicate[] = [];
  if (m.port !== undefined) {
    const port = m.port;
    checks.push((c) => c.port === port);
  }
  if (m.destinationSubnets && m.destinationSubnets.length > 0) {
    // A subnet that does not parse matches nothing (validation reports it).
    const blocks = m.destinationSubnets.flatMap((s) => {
      try {
        return [parseCidr(s)];
      } catch {
        return [];
      }
    });
    checks.push((c) => c.destinationIp !== undefined && anyCidrContains(blocks, parseIp(c.destinationIp)));
  }
  if (m.sourceLabels) {
    const wanted = Object.entries(m.sourceLabels);
    checks.push((c) => wanted.every(([k, v]) => c.sourceLabels?.[k] === v));
  }
  if (m.sourceNamespace) {
    const ns = m.sourceNamespace;
    checks.push((c) => c.sourceNamespace === ns);
  }
  if (m.sniHosts) {
    const hosts = m.sniHosts;
    checks.push((c) => c.serverName !== undefined && hosts.some((h) => hostMatches(h, c.serverName!)));
  }
  return (c) => checks.every((check) => check(c));
}

function compileRoute(route: L4Route): CompiledL4Route {
  const blocks = route.matches.map(compileMatch);
  const cumulative: number[] = [];
  let total = 0;
  for (const d of route.destinations) {
    total += d.weight;
    cumulative.push(total);
  }
  return {
    route,
    matches: blocks.length === 0 ? () => true : (c) => blocks.some((b) => b(c)),
    cumulative,
    total,
  };
}

const compiled = new WeakMap<VirtualHost, CompiledL4Routes>();

function compiledFor(vhost: VirtualHost): CompiledL4Routes {
  let c = compiled.get(vhost);
  if (!c) {
    c = { tcp: (vhost.tcpRoutes ?? []).map(compileRoute), tls: (vhost.tlsRoutes ?? []).map(compileRoute) };
    compiled.set(vhost, c);
  }
  return c;
}

/** Whether connections to this virtual host need their ClientHello read before they are routed. */
export function routesBySni(vhost: VirtualHost): boolean {
  return (vhost.tlsRoutes?.length ?? 0) > 0;
}

export interface L4Selection {
  readonly route: L4Route;
  readonly destination: RouteDestination;
}

/**
 * The route and destination for one connection: a `tls` route when the connection brought an
 * SNI that one matches, else a `tcp` route; undefined when none matches (the caller falls back
 * to the service's own cluster). `random` in [0, 1) is injectable so tests can be exact.
 */
export function selectL4Route(
  vhost: VirtualHost,
  conn: L4Connection,
  random: () => number = Math.random,
): L4Selection | undefined {
  const routes = compiledFor(vhost);
  const hit =
    (conn.serverName !== undefined ? routes.tls.find((r) => r.matches(conn)) : undefined) ??
    routes.tcp.find((r) => r.matches(conn));
  if (!hit) return undefined;
  const destination = pickWeighted(hit, random());
  return destination ? { route: hit.route, destination } : undefined;
}

function pickWeighted(r: CompiledL4Route, random: number): RouteDestination | undefined {
  const destinations = r.route.destinations;
  if (destinations.length === 0) return undefined;
  if (r.total <= 0) return destinations[0];
  const point = random * r.total;
  const index = r.cumulative.findIndex((c) => point < c);
  return destinations[index < 0 ? destinations.length - 1 : index];
}
