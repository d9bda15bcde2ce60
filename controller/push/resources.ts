// The controller's side of the resource types: a translate result becomes, per type, a map
// of named resources with their JSON body and content version, so that the push server
// can compare versions with what each client holds and send only what changed.
import type { MeshSnapshot } from '../../core/model/types.js';
import type { GatewayConfig, WaypointConfig } from '../../core/model/l7.js';
import { TYPE_GATEWAY_CONFIG, TYPE_WAYPOINT_CONFIG, resourceVersion, snapshotResources } from '../../core/xds/resources.js';

export interface EncodedResource {
  readonly version: string;
  readonly body: string;
  /** For scoping: the namespace a policy applies in / a workload lives in. */
  readonly namespace?: string;
  /** For scoping: the node a workload runs on. */
  readonly node?: string;
}

/** type → name → encoded resource. */
export type ResourceSet = ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;

/** Encodes one value; when its JSON equals `previous`'s, reuses that (no re-hashing). */
export function encode(value: unknown, previous?: EncodedResource): EncodedResource {
  const body = JSON.stringify(value);
  if (previous && previous.body === body) return previous;
  return { body, version: resourceVersion(body), ...scopeFields(value) };
}

/** Workloads: namespace + node; policies (`scope.namespace`): namespace. */
function scopeFields(value: unknown): { namespace?: string; node?: string } {
  const v = value as { namespace?: unknown; node?: unknown; scope?: { namespace?: unknown } };
  const namespace = typeof v.scope?.namespace === 'string' ? v.scope.namespace : typeof v.namespace === 'string' ? v.namespace : undefined;
  return { ...(namespace !== undefined ? { namespace } : {}), ...(typeof v.node === 'string' ? { node: v.node } : {}) };
}

/**
 * Encodes a translate result: the snapshot's L4 types, WaypointConfig per namespace,
 * GatewayConfig per gateway. Entries of `previous` (the last set) whose JSON is unchanged
 * are reused as they are.
 */
export function buildResourceSet(input: {
  snapshot: MeshSnapshot;
  waypoints: ReadonlyMap<string, WaypointConfig>;
  gateways?: ReadonlyMap<string, GatewayConfig>;
}, previous?: ResourceSet): ResourceSet {
  const out = new Map<string, Map<string, EncodedResource>>();
  for (const [type, values] of snapshotResources(input.snapshot)) {
    const prev = previous?.get(type);
    out.set(type, new Map([...values].map(([name, v]) => [name, encode(v, prev?.get(name))])));
  }
  // The waypoint config's own `version` changes on every translate; leave it out of the
  // content hash so an unchanged namespace is not pushed again.
  out.set(TYPE_WAYPOINT_CONFIG, new Map([...input.waypoints].map(([ns, cfg]) => {
    const { version: _v, ...content } = cfg;
    return [ns, { body: JSON.stringify(cfg), version: resourceVersion(JSON.stringify(content)) }];
  })));
  const prevGateways = previous?.get(TYPE_GATEWAY_CONFIG);
  out.set(TYPE_GATEWAY_CONFIG, new Map([...(input.gateways ?? new Map<string, GatewayConfig>())].map(([key, g]) => [key, encode(g, prevGateways?.get(key))])));
  return out;
}

/** Names whose version differs between two sets, per type (for logs and tests). */
export function changedNames(before: ResourceSet | undefined, after: ResourceSet): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [type, now] of after) {
    const prev = before?.get(type);
    const names = [...now].filter(([n, r]) => prev?.get(n)?.version !== r.version).map(([n]) => n);
    for (const n of prev?.keys() ?? []) if (!now.has(n)) names.push(n);
    if (names.length) out.set(type, names);
  }
  return out;
}
