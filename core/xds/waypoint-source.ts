// The waypoint's config source backed by the controller: the WaypointConfig of the
// waypoint's own namespace, and the Istio ingress/egress GatewayConfigs of that namespace
// (the controller sends no other namespace's).
import type { GatewayConfig, WaypointConfig } from '../model/l7.js';
import type { Workload } from '../model/types.js';
import { DiscoveryClient, type DiscoveryClientStatus } from './client.js';
import type { XdsSourceOptions } from './mesh-source.js';
import { TYPE_GATEWAY_CONFIG, TYPE_WAYPOINT_CONFIG, TYPE_WORKLOAD } from './resources.js';

/**
 * Like ConfigSource, for a waypoint / gateway: `config` is undefined while the namespace has
 * no waypoint config; `gateways` are sorted by key; `workloads` (when the source has them)
 * let the waypoint know its callers (sourceLabels, telemetry). Returns the problems (→ NACK).
 */
export type WaypointConfigHandler = (
  config: WaypointConfig | undefined,
  gateways: readonly GatewayConfig[],
  workloads?: readonly Workload[],
) => readonly string[];

export interface WaypointConfigSource {
  start(onConfig: WaypointConfigHandler): Promise<void>;
  stop(): Promise<void>;
}

export class XdsWaypointSource implements WaypointConfigSource {
  private readonly client: DiscoveryClient;
  private readonly namespace: string;

  constructor(opts: XdsSourceOptions & { node: XdsSourceOptions['node'] & { namespace: string } }) {
    this.namespace = opts.node.namespace;
    this.client = new DiscoveryClient({
      ...opts,
      node: { ...opts.node, role: 'waypoint' },
      types: [TYPE_WAYPOINT_CONFIG, TYPE_GATEWAY_CONFIG, TYPE_WORKLOAD],
    });
  }

  async start(onConfig: WaypointConfigHandler): Promise<void> {
    this.client.start((resources) => {
      const config = resources.get(TYPE_WAYPOINT_CONFIG)?.get(this.namespace) as WaypointConfig | undefined;
      const gateways = [...(resources.get(TYPE_GATEWAY_CONFIG) ?? new Map<string, unknown>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, g]) => g as GatewayConfig);
      const workloads = [...(resources.get(TYPE_WORKLOAD) ?? new Map<string, unknown>()).values()] as Workload[];
      return onConfig(config, gateways, workloads);
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
