// What one gateway serves, from the GatewayConfigs of its namespace: the Istio Gateways whose
// `selector` matches the gateway's own labels, their servers grouped by port, and one
// WaypointConfig for the shared L7 pipeline (routes, clusters, and the policies that select
// the gateway itself, so an AuthorizationPolicy on the gateway is enforced here).
import { appliesTo } from '../../core/authz/engine.js';
import { hostMatches } from '../../core/mesh/hosts.js';
import type { Cluster, GatewayConfig, GatewayServer, VirtualHost, WaypointConfig } from '../../core/model/l7.js';
import type { AuthorizationPolicy, Labels, MeshConfig, PeerAuthentication } from '../../core/model/types.js';
import { contentVersion } from './version.js';

export interface GatewaySelf {
  readonly namespace: string;
  /** The gateway pod's labels, matched against each Gateway's `selector`. */
  readonly labels: Labels;
  readonly trustDomain: string;
}

export interface GatewayPolicyInput {
  readonly mesh: MeshConfig | undefined;
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly peerAuthentications: readonly PeerAuthentication[];
}

/** How a port is served: plaintext HTTP, TLS (terminated or passed through, chosen by SNI), or TCP. */
export type PortKind = 'http' | 'tls' | 'tcp';

export interface PortPlan {
  readonly port: number;
  readonly kind: PortKind;
  /** In Gateway order; the first one that names a host wins. */
  readonly servers: readonly GatewayServer[];
}

/** A Gateway selects this gateway when every label of its non-empty selector is on the gateway. */
export function selects(gw: Pick<GatewayConfig, 'selector'>, labels: Labels): boolean {
  const keys = Object.keys(gw.selector);
  return keys.length > 0 && keys.every((k) => labels[k] === gw.selector[k]);
}

export function kindOf(server: GatewayServer): PortKind {
  if (server.protocol === 'TCP' || server.protocol === 'MONGO') return 'tcp';
  if (server.protocol === 'HTTPS' || server.protocol === 'TLS') return 'tls';
  return 'http';
}

/**
 * Servers by port. A port mixing kinds keeps the kind of its first server and drops the
 * others (Istio rejects such a Gateway too); each dropped server is a problem.
 */
export function portPlans(gateways: readonly GatewayConfig[]): { plans: PortPlan[]; problems: string[] } {
  const byPort = new Map<number, { kind: PortKind; servers: GatewayServer[] }>();
  const problems: string[] = [];
  for (const gw of gateways) {
    gw.servers.forEach((server, i) => {
      if (!Number.isInteger(server.port) || server.port < 1 || server.port > 65_535) {
        problems.push(`Gateway/${gw.key}: spec.servers[${i}].port.number: ${server.port} is not a port`);
        return;
      }
      const kind = kindOf(server);
      const plan = byPort.get(server.port);
      if (!plan) byPort.set(server.port, { kind, servers: [server] });
      else if (plan.kind === kind) plan.servers.push(server);
      else
        problems.push(
          `Gateway/${gw.key}: spec.servers[${i}]: port ${server.port} is already served as ${plan.kind}, not ${kind}`,
        );
    });
  }
  const plans = [...byPort].map(([port, p]) => ({ port, kind: p.kind, servers: p.servers }));
  return { plans: plans.sort((a, b) => a.port - b.port), problems };
}

/** A server host is `host` or `ns/host` (the namespace part limits VirtualServices, not names). */
export function serverHostName(host: string): string {
  const slash = host.indexOf('/');
  return slash >= 0 ? host.slice(slash + 1) : host;
}

/** Does this server take requests (or a TLS SNI) for `name`? */
export function serverAdmitsName(server: GatewayServer, name: string): boolean {
  return server.hosts.some((h) => hostMatches(serverHostName(h), name));
}

/** The server of a TLS port for a ClientHello's SNI: the most specific host wins; no SNI → the first. */
export function serverForSni(servers: readonly GatewayServer[], sni: string | undefined): GatewayServer | undefined {
  if (sni === undefined) return servers[0];
  let best: GatewayServer | undefined;
  let rank = -1;
  for (const s of servers) {
    for (const h of s.hosts) {
      const name = serverHostName(h);
      if (!hostMatches(name, sni)) continue;
      const r = name === sni ? 1_000_000 : name === '*' ? 0 : name.length;
      if (r > rank) {
        rank = r;
        best = s;
      }
    }
  }
  return best;
}

/**
 * The virtual host of a port for a request's host name (port stripped, lower case): exact
 * name, else the longest `*.suffix`, else `*`; undefined = no route (404).
 */
export function virtualHostFor(
  vhosts: readonly VirtualHost[],
  port: number,
  hostname: string,
): VirtualHost | undefined {
  let best: VirtualHost | undefined;
  let rank = -1;
  for (const v of vhosts) {
    if (v.port !== port || !hostMatches(v.host, hostname)) continue;
    const r = v.host === hostname ? 1_000_000 : v.host === '*' ? 0 : v.host.length;
    if (r > rank) {
      rank = r;
      best = v;
    }
  }
  return best;
}

const DEFAULT_ROOT_NAMESPACE = 'istio-system';

/**
 * The policies enforced at the gateway: those that would apply to the gateway pod as a
 * workload (mesh-wide, its namespace, a selector matching its labels) or that name one of
 * its Gateways in `targetRefs`. They are rewritten as mesh-level so the shared engine
 * applies them to every request the gateway takes, whatever the destination.
 */
export function gatewayPolicies(
  policies: readonly AuthorizationPolicy[],
  self: GatewaySelf,
  gateways: readonly GatewayConfig[],
  rootNamespace: string,
): AuthorizationPolicy[] {
  const names = new Set(gateways.map((g) => g.name));
  return policies
    .filter((p) => {
      const refs = p.scope.targetRefs;
      if (refs && refs.length > 0)
        return refs.some(
          (r) => r.kind === 'Gateway' && names.has(r.name) && (r.namespace ?? p.scope.namespace) === self.namespace,
        );
      return appliesTo(p, { namespace: self.namespace, labels: self.labels }, rootNamespace);
    })
    .map((p) => ({ ...p, scope: { namespace: p.scope.namespace, level: 'mesh' as const } }));
}

/** The union of the selected Gateways' routes and clusters as one config for the L7 pipeline. */
export function pipelineConfig(
  gateways: readonly GatewayConfig[],
  policies: GatewayPolicyInput,
  self: GatewaySelf,
): WaypointConfig {
  const mesh: MeshConfig = policies.mesh ?? {
    trustDomain: self.trustDomain,
    rootNamespace: DEFAULT_ROOT_NAMESPACE,
    outboundTrafficPolicy: 'ALLOW_ANY',
    traceSampling: 1,
  };
  const vhosts = new Map<string, VirtualHost>();
  const clusters = new Map<string, Cluster>();
  for (const gw of gateways) {
    for (const v of gw.virtualHosts) if (!vhosts.has(v.name)) vhosts.set(v.name, v);
    for (const c of gw.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
  }
  const body = {
    namespace: self.namespace,
    waypoint: gateways.map((g) => g.name).join(','),
    mesh,
    virtualHosts: [...vhosts.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    clusters: [...clusters.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    authorizationPolicies: gatewayPolicies(policies.authorizationPolicies, self, gateways, mesh.rootNamespace),
    requestAuthentications: [],
    peerAuthentications: policies.peerAuthentications.filter(
      (p) => p.scope.namespace === self.namespace || p.scope.namespace === mesh.rootNamespace,
    ),
  };
  return { ...body, version: contentVersion(body) };
}
