// The agent's ConfigSource backed by the controller: subscribes to the L4 resource types
// and hands the consumer a MeshSnapshot assembled from the accepted resources. While the
// controller is unreachable the consumer keeps the last snapshot it applied.
import type { ConfigSource } from '../config/source.js';
import type { MeshSnapshot } from '../model/types.js';
import { DiscoveryClient, type DiscoveryClientOptions, type DiscoveryClientStatus } from './client.js';
import { AGENT_TYPES, assembleSnapshot } from './resources.js';

export type XdsSourceOptions = Omit<DiscoveryClientOptions, 'types'>;

/** Node metadata an on-demand agent sends (controller/push/scope.ts reads it). */
export const DISCOVERY_MODE_METADATA = { 'ambit.dev/discovery': 'on-demand' } as const;

export { hasLookup, type OnDemandLookup } from '../config/on-demand.js';

export class XdsMeshSource implements ConfigSource {
  private readonly client: DiscoveryClient;
  /** On demand, the controller sends this node's workloads and only the destinations `lookup()` asks for. */
  readonly lookup: ((address: string) => Promise<void>) | undefined;

  constructor(opts: XdsSourceOptions & { onDemand?: boolean }) {
    const { onDemand, ...rest } = opts;
    const node = onDemand
      ? { ...rest.node, metadata: { ...rest.node.metadata, ...DISCOVERY_MODE_METADATA } }
      : rest.node;
    this.client = new DiscoveryClient({ ...rest, node, types: AGENT_TYPES });
    this.lookup = onDemand ? (address) => this.client.lookup(address) : undefined;
  }

  async start(onSnapshot: (snapshot: MeshSnapshot) => readonly string[]): Promise<void> {
    this.client.start((resources, version) => {
      const snapshot = assembleSnapshot(version, resources);
      if (!snapshot) return ['no MeshConfig resource received'];
      return onSnapshot(snapshot);
    });
  }

  /** Resolves once the first snapshot has been delivered. */
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
