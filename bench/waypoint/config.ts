// The configuration the waypoint bench hands to the real processes: the agent's file-mode
// mesh snapshot (two Services in front of one server pod, one of them served by the
// namespace's waypoint) and the waypoint's WaypointConfig (one route to that server).
import { clusterName, type WaypointConfig } from '../../core/model/l7.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { spiffeIdFor } from '../../core/identity/spiffe.js';

export const MESH_NS = 'bench-mesh';
export const PLAIN_NS = 'bench-plain';
export const TRUST_DOMAIN = 'cluster.local';
export const HTTP_PORT = 80;
/** Service `server` (L4 only) and `server-wp` (served by the waypoint), both in front of mesh-server. */
export const VIP_L4 = '10.96.210.10';
export const VIP_WAYPOINT = '10.96.210.11';
export const WAYPOINT_NAME = 'waypoint';
export const WAYPOINT_SA = 'waypoint';
/** Response header the bench route adds: proof that a response came through the waypoint. */
export const ROUTE_HEADER = 'x-bench-route';

export const waypointIdentity = (): string => spiffeIdFor(TRUST_DOMAIN, MESH_NS, WAYPOINT_SA);
export const serverIdentity = (): string => spiffeIdFor(TRUST_DOMAIN, MESH_NS, 'server');
export const waypointHost = (): string => `server-wp.${MESH_NS}.svc.cluster.local`;

export interface MeshPods {
  readonly client?: string;
  readonly server?: string;
  readonly waypoint?: string;
}

/**
 * The agent's snapshot. The waypoint pod is a known workload with `enrolled: false` (as Istio
 * labels waypoint pods out of ambient capture), so ambit-cni leaves it alone.
 */
export function meshSnapshot(version: string, ips: MeshPods): Record<string, unknown> {
  const list = (ip: string | undefined): string[] => (ip ? [ip] : []);
  const waypoint = ips.waypoint
    ? { name: WAYPOINT_NAME, namespace: MESH_NS, address: ips.waypoint, identity: waypointIdentity() }
    : undefined;
  const endpoints = ips.server ? [{ address: ips.server, workloadUid: `Pod/${MESH_NS}/mesh-server` }] : [];
  const ports = [{ name: 'http', port: HTTP_PORT, targetPort: HTTP_PORT, protocol: 'http' }];
  return {
    version,
    namespaces: [
      { name: MESH_NS, labels: { 'mesh-mode': 'ambient' } },
      { name: PLAIN_NS, labels: {} },
    ],
    workloads: [
      {
        name: 'mesh-client',
        namespace: MESH_NS,
        serviceAccount: 'client',
        ips: list(ips.client),
        enrolled: true,
        labels: { app: 'client' },
      },
      // The server's waypoint reference lets its agent accept tunnels from the waypoint identity.
      {
        name: 'mesh-server',
        namespace: MESH_NS,
        serviceAccount: 'server',
        ips: list(ips.server),
        enrolled: true,
        labels: { app: 'server' },
        ...(waypoint ? { waypoint } : {}),
      },
      {
        name: 'waypoint',
        namespace: MESH_NS,
        serviceAccount: WAYPOINT_SA,
        ips: list(ips.waypoint),
        enrolled: false,
        labels: { 'gateway.networking.k8s.io/gateway-name': WAYPOINT_NAME },
      },
    ],
    services: [
      { name: 'server', namespace: MESH_NS, vips: [VIP_L4], ports, endpoints },
      {
        name: 'server-wp',
        namespace: MESH_NS,
        vips: [VIP_WAYPOINT],
        ports,
        endpoints,
        ...(waypoint ? { waypoint } : {}),
      },
    ],
  };
}

/** The waypoint's L7 config: `server-wp` → one route (all paths) → the server pod over HBONE. */
export function waypointConfig(version: string, serverIp: string): WaypointConfig {
  const host = waypointHost();
  const cluster = clusterName(host, HTTP_PORT);
  const serviceKey = `${MESH_NS}/${host}`;
  return {
    namespace: MESH_NS,
    waypoint: WAYPOINT_NAME,
    version,
    mesh: DEFAULT_MESH_CONFIG,
    virtualHosts: [
      {
        name: `${host}:${HTTP_PORT}`,
        host,
        port: HTTP_PORT,
        protocol: 'http',
        serviceKey,
        vips: [VIP_WAYPOINT],
        domains: [
          `${host}:${HTTP_PORT}`,
          `server-wp:${HTTP_PORT}`,
          `server-wp.${MESH_NS}:${HTTP_PORT}`,
          `${VIP_WAYPOINT}:${HTTP_PORT}`,
        ],
        routes: [
          {
            source: `${MESH_NS}/server-wp`,
            name: 'all',
            matches: [{ uri: { type: 'prefix', value: '/' } }],
            destinations: [{ host, port: HTTP_PORT, weight: 100, cluster }],
            headers: { response: { set: { [ROUTE_HEADER]: 'waypoint' } } },
          },
        ],
      },
    ],
    clusters: [
      {
        name: cluster,
        host,
        port: HTTP_PORT,
        protocol: 'http',
        serviceKey,
        trafficPolicy: {},
        endpoints: [
          {
            address: serverIp,
            port: HTTP_PORT,
            identity: serverIdentity(),
            labels: { app: 'server' },
            hbone: true,
            workloadUid: `Pod/${MESH_NS}/mesh-server`,
          },
        ],
      },
    ],
    authorizationPolicies: [],
    requestAuthentications: [],
    peerAuthentications: [],
  };
}
