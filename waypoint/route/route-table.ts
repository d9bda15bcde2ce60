// The compiled routing table of one WaypointConfig: virtual hosts by `:authority`, routes
// in order (first match wins), weighted destinations. Built once per config change.
import type { HttpRoute, RouteDestination, VirtualHost, WaypointConfig } from '../../core/model/l7.js';
import { compileRouteMatch, type RequestPredicate } from './match.js';
import type { RequestView } from './request-view.js';

export interface CompiledRoute {
  readonly route: HttpRoute;
  readonly matches: RequestPredicate;
  /** Cumulative weights for a weighted pick; empty for redirects. */
  readonly cumulative: readonly number[];
  readonly totalWeight: number;
}

export interface CompiledVirtualHost {
  readonly vhost: VirtualHost;
  readonly routes: readonly CompiledRoute[];
  /** Lower-cased exact domains, and the suffixes of `*.` wildcard domains. */
  readonly exactDomains: ReadonlySet<string>;
  readonly wildcardSuffixes: readonly string[];
}

function compileRoute(route: HttpRoute): CompiledRoute {
  const cumulative: number[] = [];
  let total = 0;
  for (const d of route.destinations ?? []) {
    total += d.weight;
    cumulative.push(total);
  }
  return { route, matches: compileRouteMatch(route), cumulative, totalWeight: total };
}

/** Lower-cases and, when the authority has no port, adds the request's port. */
function authorityKey(authority: string, port: number): string[] {
  const a = authority.toLowerCase();
  const hasPort = a.startsWith('[') ? a.includes(']:') : a.includes(':');
  return hasPort ? [a] : [`${a}:${port}`, a];
}

export class RouteTable {
  private readonly byDomain = new Map<string, CompiledVirtualHost>();
  private readonly byName = new Map<string, CompiledVirtualHost>();
  private readonly wildcards: Array<{ suffix: string; vhost: CompiledVirtualHost }> = [];
  readonly virtualHosts: readonly CompiledVirtualHost[];

  constructor(virtualHosts: readonly VirtualHost[]) {
    this.virtualHosts = virtualHosts.map((vhost) => {
      const domains = vhost.domains.map((d) => d.toLowerCase());
      return {
        vhost,
        routes: vhost.routes.map(compileRoute),
        exactDomains: new Set(domains.filter((d) => !d.startsWith('*.'))),
        wildcardSuffixes: domains.filter((d) => d.startsWith('*.')).map((d) => d.slice(1)),
      };
    });
    for (const compiled of this.virtualHosts) this.byName.set(compiled.vhost.name, compiled);
    for (const compiled of this.virtualHosts) {
      for (const domain of compiled.vhost.domains) {
        const d = domain.toLowerCase();
        if (d.startsWith('*.')) this.wildcards.push({ suffix: d.slice(1), vhost: compiled });
        else if (!this.byDomain.has(d)) this.byDomain.set(d, compiled);
      }
    }
    // Longest wildcard first, as Envoy picks the most specific domain.
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  static fromConfig(config: Pick<WaypointConfig, 'virtualHosts'>): RouteTable {
    return new RouteTable(config.virtualHosts);
  }

  findVirtualHost(authority: string, port: number): CompiledVirtualHost | undefined {
    for (const key of authorityKey(authority, port)) {
      const exact = this.byDomain.get(key);
      if (exact) return exact;
    }
    const host = authorityKey(authority, port)[0] ?? '';
    return this.wildcards.find((w) => host.endsWith(w.suffix) || host.split(':')[0]!.endsWith(w.suffix))?.vhost;
  }

  /** The virtual host of that name (`<host>:<port>`), as a tunnel remembered it. */
  named(name: string): CompiledVirtualHost | undefined {
    return this.byName.get(name);
  }

  /**
   * Whether a request's Host/`:authority` names this virtual host's service on the port the
   * tunnel targets. The tunnel picked the service; Host only chooses among its routes, so a
   * Host naming another service or port must not move the request there.
   */
  static hostBelongs(compiled: CompiledVirtualHost, authority: string, port: number): boolean {
    const keys = authorityKey(authority, port);
    for (const key of keys) if (compiled.exactDomains.has(key)) return true;
    return keys.some((key) => compiled.wildcardSuffixes.some((suffix) => key.endsWith(suffix)));
  }

  /** First route whose matches accept the request. */
  findRoute(vhost: CompiledVirtualHost, req: RequestView): CompiledRoute | undefined {
    return vhost.routes.find((r) => r.matches(req));
  }
}

/** Weighted pick; `random` in [0, 1) is injectable so tests can be exact. */
export function pickDestination(route: CompiledRoute, random: number = Math.random()): RouteDestination | undefined {
  const destinations = route.route.destinations;
  if (!destinations || destinations.length === 0 || route.totalWeight <= 0) return destinations?.[0];
  const point = random * route.totalWeight;
  const index = route.cumulative.findIndex((c) => point < c);
  return destinations[index < 0 ? destinations.length - 1 : index];
}
