// Small mesh-model values for discovery tests.
import type { AuthorizationPolicy, MeshSnapshot, Workload } from '../../core/model/types.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';

export function workload(name: string, ns = 'shop', node = 'node-a'): Workload {
  return {
    uid: `Pod/${ns}/${name}`,
    kind: 'Pod',
    name,
    namespace: ns,
    serviceAccount: name,
    identity: `spiffe://cluster.local/ns/${ns}/sa/${name}`,
    ips: ['10.244.0.' + (name.length + 10)],
    node,
    labels: { app: name },
    enrolled: true,
  };
}

export function denyPolicy(
  name: string,
  ns = 'shop',
  principals: string[] = ['cluster.local/ns/shop/sa/evil'],
): AuthorizationPolicy {
  return {
    key: `${ns}/${name}`,
    name,
    scope: { namespace: ns, level: 'namespace' },
    action: 'DENY',
    rules: [{ from: [{ principals }] }],
  };
}

export function snapshot(parts: Partial<MeshSnapshot> = {}): MeshSnapshot {
  return {
    version: '1',
    mesh: DEFAULT_MESH_CONFIG,
    workloads: [workload('web')],
    services: [],
    authorizationPolicies: [],
    peerAuthentications: [],
    ...parts,
  };
}
