// The body of GET /config_dump on an agent's or a waypoint's admin port, as JSON carries it
// (dates as ISO strings). The components build these; ambitctl, the dashboard, the benches
// and the tests read them. `version` tells which config the component holds.
import type { PodInfo } from '../enrolment/protocol.js';
import type { HbonePoolStats } from '../hbone/options.js';
import type { Cluster, RequestAuthentication, VirtualHost } from '../model/l7.js';
import type { AuthorizationPolicy, MeshConfig, PeerAuthentication, Service, Workload } from '../model/types.js';

/** A certificate the component holds: its SPIFFE id and when it expires. */
export interface CertificateExpiryDump {
  readonly identity: string;
  /** ISO 8601 */
  readonly notAfter: string;
}

/** One pod the agent serves (the enrolment's view) with the identity it serves it as. */
export type AgentPodDump = PodInfo & { readonly identity: string };

export interface AgentConfigDump {
  readonly version: string;
  readonly mesh: MeshConfig;
  readonly pods: readonly AgentPodDump[];
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly policies: {
    readonly authorization: readonly AuthorizationPolicy[];
    readonly peerAuthentication: readonly PeerAuthentication[];
  };
  readonly certificates: readonly CertificateExpiryDump[];
  readonly connections: {
    readonly active: number;
    readonly opened: number;
    readonly closed: number;
    readonly refused: number;
  };
  /** Refused connections by reason. */
  readonly refusals: Readonly<Record<string, number>>;
  readonly pool: HbonePoolStats;
}

/** An upstream endpoint's live state in a waypoint cluster. */
export interface EndpointRuntimeDump {
  readonly address: string;
  readonly active: number;
  readonly ejected: boolean;
  readonly ejections: number;
  readonly ejectedForMs: number;
}

/** What a waypoint's runtime holds (no config yet: only the empty lists). */
export interface WaypointRuntimeDump {
  readonly version?: string;
  readonly namespace?: string;
  readonly routes: readonly VirtualHost[];
  readonly clusters: ReadonlyArray<Cluster & { readonly runtime: readonly EndpointRuntimeDump[] }>;
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly requestAuthentications: readonly RequestAuthentication[];
  /** Names of the HTTP filters in the pipeline, in order. */
  readonly filters: readonly string[];
}

export interface WaypointConfigDump extends WaypointRuntimeDump {
  readonly identity: string;
  readonly certificates: readonly CertificateExpiryDump[];
  /** Gateway modes: the Istio Gateways served and the server ports. */
  readonly gateway?: {
    readonly gateways: readonly string[];
    readonly ports: ReadonlyArray<{ readonly port: number; readonly kind: string; readonly hosts: readonly string[] }>;
  };
}

/** Either component's dump; `pods` is the agent's, `routes` the waypoint's. */
export type ConfigDump = AgentConfigDump | WaypointConfigDump;

/** Certificate expiries in the dump's form. */
export function certificateExpiries(
  list: ReadonlyArray<{ identity: string; notAfter: Date }>,
): CertificateExpiryDump[] {
  return list.map((c) => ({ identity: c.identity, notAfter: c.notAfter.toISOString() }));
}
