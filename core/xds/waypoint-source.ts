// The waypoint's config source backed by the controller: the WaypointConfig of the
// waypoint's own namespace, and the Istio ingress/egress GatewayConfigs of that namespace
// (the controller sends no other namespace's).
import type { GatewayConfig, WaypointConfig } from '../model/l7.js';
import type { AuthorizationPolicy, MeshConfig, PeerAuthentication, Workload } from '../model/types.js';
import { DiscoveryClient, type DiscoveryClientStatus } from './client.js';
import type { XdsSourceOptions } from './mesh-source.js';
import {
  MESH_CONFIG_NAME,
  TYPE_AUTHORIZATION_POLICY,
  TYPE_GATEWAY_CONFIG,
  TYPE_MESH_CONFIG,
  TYPE_PEER_AUTHENTICATION,
  TYPE_WAYPOINT_CONFIG,
  TYPE_WORKLOAD,
} from './resources.js';

/**
 * Like ConfigSource, for a waypoint / gateway: `config` is undefined while the namespace has
 * no waypoint config; `gateways` are sorted by key; `workloads` (when the source has them)
 * let the waypoint know its callers (sourceLabels, telemetry). Returns the problems (→ NACK).
 */
export type WaypointConfigHandler = (
  config: WaypointConfig | undefined,
  gateways: readonly GatewayConfig[],
  workloads?: readonly Workload[],
  gatewayPolicies?: GatewayPolicies,
) => readonly string[];

/**
 * What a gateway enforces itself besides its routes: the mesh config and every policy (the
 * gateway keeps those that select it). Only a source started for a gateway has them.
 */
export interface GatewayPolicies {
  readonly mesh: MeshConfig | undefined;
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly peerAuthentications: readonly PeerAuthentication[];
}

export interface WaypointConfigSource {
  start(onConfig: WaypointConfigHandler): Promise<void>;
  stop(): Promise<void>;
}

export class XdsWaypointSource implements WaypointConfigSource {
  private readonly client: DiscoveryClient;
  private readonly namespace: string;

  private readonly gateway: boolean;

  /** `gateway`: also subscribe to the mesh config and the policies (an ingress/egress gateway). */
  constructor(opts: XdsSourceOptions & { node: XdsSourceOptions['node'] & { namespace: string }; gateway?: boolean }) {
    this.namespace = opts.node.namespace;
    this.gateway = opts.gateway ?? false;
    const { gateway: _gateway, ...rest } = opts;
    this.client = new DiscoveryClient({
      ...rest,
      node: { ...opts.node, role: 'waypoint' },
      types: [
        TYPE_WAYPOINT_CONFIG,
        TYPE_GATEWAY_CONFIG,
        TYPE_WORKLOAD,
        ...(this.gateway ? [TYPE_MESH_CONFIG, TYPE_AUTHORIZATION_POLICY, TYPE_PEER_AUTHENTICATION] : []),
      ],
    });
  }

  async start(onConfig: WaypointConfigHandler): Promise<void> {
    this.client.start((resources) => {
      const config = resources.get(TYPE_WAYPOINT_CONFIG)?.get(this.namespace) as WaypointConfig | undefined;
      const gateways = [...(resources.get(TYPE_GATEWAY_CONFIG) ?? new Map<string, unknown>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, g]) => g as GatewayConfig);
      const workloads = [...(resources.get(TYPE_WORKLOAD) ?? new Map<string, unknown>()).values()] as Workload[];
      if (!this.gateway) return onConfig(config, gateways, workloads);
      const values = <T>(type: string): T[] => [...(resources.get(type) ?? new Map<string, unknown>()).values()] as T[];
      return onConfig(config, gateways, workloads, {
        mesh: resources.get(TYPE_MESH_CONFIG)?.get(MESH_CONFIG_NAME) as MeshConfig | undefined,
        authorizationPolicies: values<AuthorizationPolicy>(TYPE_AUTHORIZATION_POLICY),
        peerAuthentications: values<PeerAuthentication>(TYPE_PEER_AUTHENTICATION),
      });
    });
  }

  whenSynced(): Promise<void> {
    return this.client.whenSynced();
  }
  status(): DiscoveryClientStatus {
    return this.client.status();
  }

  async stop(): Promise<void> {
    this.client.stop();
  }
}
