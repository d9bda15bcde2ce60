// The waypoint's config source backed by the controller: the WaypointConfig of the
// waypoint's own namespace (the controller sends no other namespace's).
import type { WaypointConfig } from '../model/l7.js';
import { DiscoveryClient, type DiscoveryClientStatus } from './client.js';
import type { XdsSourceOptions } from './mesh-source.js';
import { TYPE_WAYPOINT_CONFIG } from './resources.js';

/** Like ConfigSource, for a waypoint: `undefined` = the namespace has no waypoint config (yet). */
export interface WaypointConfigSource {
  start(onConfig: (config: WaypointConfig | undefined) => readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

export class XdsWaypointSource implements WaypointConfigSource {
  private readonly client: DiscoveryClient;
  private readonly namespace: string;

  constructor(opts: XdsSourceOptions & { node: XdsSourceOptions['node'] & { namespace: string } }) {
    this.namespace = opts.node.namespace;
    this.client = new DiscoveryClient({ ...opts, node: { ...opts.node, role: 'waypoint' }, types: [TYPE_WAYPOINT_CONFIG] });
  }

  async start(onConfig: (config: WaypointConfig | undefined) => readonly string[]): Promise<void> {
    this.client.start((resources) => onConfig(resources.get(TYPE_WAYPOINT_CONFIG)?.get(this.namespace) as WaypointConfig | undefined));
  }

  whenSynced(): Promise<void> { return this.client.whenSynced(); }
  status(): DiscoveryClientStatus { return this.client.status(); }

  async stop(): Promise<void> { this.client.stop(); }
}
