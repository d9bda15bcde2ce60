// What each client receives. An agent gets every workload and service (it dials any
// destination), the MeshConfig, and only the policies that can apply to the workloads on
// its node: those of the root namespace and of namespaces with a workload on that node. A
// waypoint gets its own namespace's WaypointConfig and GatewayConfigs, and the L4 types.
import type { NodeInfo } from '../../core/xds/proto.js';
import {
  MESH_CONFIG_NAME, TYPE_AUTHORIZATION_POLICY, TYPE_GATEWAY_CONFIG, TYPE_MESH_CONFIG, TYPE_PEER_AUTHENTICATION,
  TYPE_SIDECAR_SCOPE, TYPE_WAYPOINT_CONFIG, TYPE_WORKLOAD,
} from '../../core/xds/resources.js';
import type { EncodedResource, ResourceSet } from './resources.js';

const NAMESPACED_POLICY_TYPES = new Set([TYPE_AUTHORIZATION_POLICY, TYPE_PEER_AUTHENTICATION, TYPE_SIDECAR_SCOPE]);

export interface ClientScope {
  /** Equal keys = equal scopes (a changed key forces a full comparison for the client). */
  readonly key: string;
  includes(type: string, name: string, resource: EncodedResource | undefined): boolean;
}

/** Per resource set: which namespaces have workloads on which node, and the root namespace. */
export class ScopeIndex {
  private nodeNamespaces: Map<string, Set<string>> | undefined;
  private root: string | undefined;

  constructor(readonly set: ResourceSet) {}

  scopeFor(node: NodeInfo): ClientScope {
    if (node.role === 'waypoint') {
      return {
        key: `waypoint/${node.namespace}`,
        includes: (type, name) => (type === TYPE_WAYPOINT_CONFIG ? name === node.namespace
          : type === TYPE_GATEWAY_CONFIG ? name.startsWith(`${node.namespace}/`) : true),
      };
    }
    const namespaces = this.namespacesOn(node.name);
    const root = this.rootNamespace();
    return {
      key: `agent/${root}/${[...namespaces].sort().join(',')}`,
      includes: (type, _name, r) => {
        if (type === TYPE_WAYPOINT_CONFIG || type === TYPE_GATEWAY_CONFIG) return false;
        if (!NAMESPACED_POLICY_TYPES.has(type) || r?.namespace === undefined) return true;
        return r.namespace === root || namespaces.has(r.namespace);
      },
    };
  }

  private namespacesOn(node: string): ReadonlySet<string> {
    if (!this.nodeNamespaces) {
      this.nodeNamespaces = new Map();
      for (const w of this.set.get(TYPE_WORKLOAD)?.values() ?? []) {
        if (w.node === undefined || w.namespace === undefined) continue;
        let s = this.nodeNamespaces.get(w.node);
        if (!s) this.nodeNamespaces.set(w.node, (s = new Set()));
        s.add(w.namespace);
      }
    }
    return this.nodeNamespaces.get(node) ?? new Set();
  }

  private rootNamespace(): string {
    if (this.root === undefined) {
      const mesh = this.set.get(TYPE_MESH_CONFIG)?.get(MESH_CONFIG_NAME);
      this.root = mesh ? String((JSON.parse(mesh.body) as { rootNamespace?: unknown }).rootNamespace ?? 'istio-system') : 'istio-system';
    }
    return this.root;
  }
}
