// What each client receives.
//
// An agent in on-demand mode (node metadata `ambit.dev/discovery: on-demand`, as the agent
// sets it) gets the workloads of its own node, and the destinations it asked for by address
// or hostname the first time it met them (the way ztunnel's on-demand mode works): the
// Service with that VIP or hostname, if its `exportTo` and the namespace's `Sidecar` let
// the agent's namespaces see it, and its endpoints' workloads; or the Workload with that IP.
// Any other agent gets every workload and service. Every agent gets the MeshConfig, the
// Namespaces, the SidecarScopes, and only the policies that can apply to the workloads on
// its node: those of the root namespace and of namespaces with a workload on that node.
// A waypoint gets its own namespace's WaypointConfig (its routes and policies) and
// GatewayConfigs, the policies of its namespace and the root namespace when it asks for them
// (a gateway), and the workloads: the waypoint labels its callers' metrics from them, and a
// caller may be any workload of the mesh (narrowing them needs a lookup by caller IP there).
import type { NodeInfo } from '../../core/xds/proto.js';
import {
  MESH_CONFIG_NAME,
  TYPE_AUTHORIZATION_POLICY,
  TYPE_GATEWAY_CONFIG,
  TYPE_MESH_CONFIG,
  TYPE_PEER_AUTHENTICATION,
  TYPE_SERVICE,
  TYPE_SIDECAR_SCOPE,
  TYPE_WAYPOINT_CONFIG,
  TYPE_WORKLOAD,
} from '../../core/xds/resources.js';
import { visibleFrom } from '../translate/sidecar.js';
import type { EncodedResource, ResourceSet } from './resources.js';

const NAMESPACED_POLICY_TYPES = new Set([TYPE_AUTHORIZATION_POLICY, TYPE_PEER_AUTHENTICATION, TYPE_SIDECAR_SCOPE]);

/** Node metadata key and value of an agent that looks destinations up on demand. */
export const DISCOVERY_MODE_KEY = 'ambit.dev/discovery';
export const ON_DEMAND = 'on-demand';

export interface ClientScope {
  /** Equal keys = equal scopes (a changed key forces a full comparison for the client). */
  readonly key: string;
  includes(type: string, name: string, resource: EncodedResource | undefined): boolean;
  /** Names of `type` that may be in scope (a superset); undefined: any name of the type. */
  candidates?(type: string): Iterable<string> | undefined;
  /**
   * On-demand agents: the key without the lookups' resolution, and that resolution. Two scopes
   * with the same `baseKey` differ only in `wanted`, so a client moves from one to the other
   * by the names that entered or left it (no comparison over its whole scope).
   */
  readonly baseKey?: string;
  readonly wanted?: { readonly services: ReadonlySet<string>; readonly workloads: ReadonlySet<string> };
}

/** One client's lookups resolved against a set: valid for that subscription set, size and namespaces. */
interface Resolution {
  readonly lookups: ReadonlySet<string>;
  readonly count: number;
  readonly nsKey: string;
  readonly services: Set<string>;
  readonly workloads: Set<string>;
  /** Addresses the resolution read: a change there may change it. */
  readonly deps: Set<string>;
  digest: string;
}

interface ByAddress {
  readonly services: Set<string>;
  readonly workloads: Set<string>;
}

/** Node → workload names, and node → namespace → how many of its workloads are in it. */
interface NodeIndex {
  readonly workloads: Map<string, Set<string>>;
  readonly namespaces: Map<string, Map<string, number>>;
}

/** Sidecar egress visibility per namespace: the namespace's own Sidecar, else the mesh-wide one. */
interface Visibility {
  readonly byNamespace: Map<string, ReadonlySet<string>>;
  readonly mesh?: ReadonlySet<string>;
}

/** Per resource set: which namespaces have workloads on which node, addresses, the root namespace. */
export class ScopeIndex {
  private nodes: NodeIndex | undefined;
  private addresses: Map<string, ByAddress> | undefined;
  private visibility: Visibility | undefined;
  /** What each on-demand client's lookups resolve to, by node; kept across sets while still true. */
  private resolutions = new Map<string, Resolution>();
  private root: string | undefined;

  constructor(readonly set: ResourceSet) {}

  /**
   * The index of `set`, made from this one (the index of `base`) by applying the names that
   * changed: O(changes) instead of a pass over every workload and service. This index must
   * not be used afterwards (its tables move to the new one).
   */
  advance(set: ResourceSet, base: ResourceSet, changed: ReadonlyMap<string, readonly string[]>): ScopeIndex {
    if (base !== this.set) return new ScopeIndex(set);
    const next = new ScopeIndex(set);
    const before = { workloads: base.get(TYPE_WORKLOAD), services: base.get(TYPE_SERVICE) };
    const after = { workloads: set.get(TYPE_WORKLOAD), services: set.get(TYPE_SERVICE) };
    if (this.nodes) {
      for (const name of changed.get(TYPE_WORKLOAD) ?? []) {
        indexNode(this.nodes, name, before.workloads?.get(name), -1);
        indexNode(this.nodes, name, after.workloads?.get(name), 1);
      }
      next.nodes = this.nodes;
    }
    if (this.addresses) {
      for (const [type, kind] of [
        [TYPE_WORKLOAD, 'workloads'],
        [TYPE_SERVICE, 'services'],
      ] as const) {
        for (const name of changed.get(type) ?? []) {
          for (const a of before[kind]?.get(name)?.addresses ?? []) this.addresses.get(a)?.[kind].delete(name);
          for (const a of after[kind]?.get(name)?.addresses ?? []) addressEntry(this.addresses, a)[kind].add(name);
        }
      }
      next.addresses = this.addresses;
    }
    if (!changed.has(TYPE_SIDECAR_SCOPE) && !changed.has(TYPE_MESH_CONFIG)) {
      if (this.visibility) next.visibility = this.visibility;
      if (this.root !== undefined) next.root = this.root;
      // A resolution stays true unless a service it holds changed, or a workload or service
      // changed at an address it consulted (a lookup, an endpoint given by address).
      const touched = new Set<string>();
      for (const [type, kind] of [
        [TYPE_WORKLOAD, 'workloads'],
        [TYPE_SERVICE, 'services'],
      ] as const) {
        for (const name of changed.get(type) ?? []) {
          for (const a of before[kind]?.get(name)?.addresses ?? []) touched.add(a);
          for (const a of after[kind]?.get(name)?.addresses ?? []) touched.add(a);
        }
      }
      const services = changed.get(TYPE_SERVICE) ?? [];
      for (const [node, r] of this.resolutions) {
        if (services.some((n) => r.services.has(n))) continue;
        let still = true;
        for (const a of touched) if (r.deps.has(a)) still = false;
        if (still) next.resolutions.set(node, r);
      }
    }
    return next;
  }

  /** `onDemand`: the addresses and hostnames the client subscribed to (on-demand agents). */
  scopeFor(node: NodeInfo, onDemand?: ReadonlySet<string>): ClientScope {
    const root = this.rootNamespace();
    if (node.role === 'waypoint') {
      // Policies (a gateway enforces those that select it) of its namespace and the root one.
      return {
        key: `waypoint/${node.namespace}/${root}`,
        includes: (type, name, r) =>
          type === TYPE_WAYPOINT_CONFIG
            ? name === node.namespace
            : type === TYPE_GATEWAY_CONFIG
              ? name.startsWith(`${node.namespace}/`)
              : NAMESPACED_POLICY_TYPES.has(type) && r?.namespace !== undefined
                ? r.namespace === node.namespace || r.namespace === root
                : true,
      };
    }
    const namespaces = this.namespacesOn(node.name);
    const policyIncludes = (type: string, r: EncodedResource | undefined): boolean => {
      if (type === TYPE_WAYPOINT_CONFIG || type === TYPE_GATEWAY_CONFIG) return false;
      if (!NAMESPACED_POLICY_TYPES.has(type) || r?.namespace === undefined) return true;
      return r.namespace === root || namespaces.has(r.namespace);
    };
    const nsKey = [...namespaces].sort().join(',');
    if (node.metadata?.[DISCOVERY_MODE_KEY] !== ON_DEMAND) {
      return { key: `agent/${root}/${nsKey}`, includes: (type, _name, r) => policyIncludes(type, r) };
    }
    const own = this.workloadsOn(node.name);
    const lookups = onDemand ?? new Set<string>();
    let wanted = this.resolutions.get(node.name);
    if (!wanted || wanted.lookups !== lookups || wanted.count !== lookups.size || wanted.nsKey !== nsKey) {
      // The subscription set only grows: the same set with the same size asks for the same names.
      wanted = { ...this.resolve(lookups, namespaces), lookups, count: lookups.size, nsKey, digest: '' };
      wanted.digest = digest([...wanted.services, ...wanted.workloads]);
      this.resolutions.set(node.name, wanted);
    }
    const baseKey = `agent-on-demand/${node.name}/${root}/${nsKey}`;
    return {
      // The resolution is part of the key: a service that gains an existing workload as an
      // endpoint changes what the client must hold without that workload changing.
      key: `${baseKey}/${wanted.digest}`,
      baseKey,
      wanted,
      includes: (type, name, r) => {
        if (type === TYPE_WORKLOAD) return r?.node === node.name || wanted.workloads.has(name);
        if (type === TYPE_SERVICE) return wanted.services.has(name);
        return policyIncludes(type, r);
      },
      candidates: (type) =>
        type === TYPE_WORKLOAD ? [...own, ...wanted.workloads] : type === TYPE_SERVICE ? wanted.services : undefined,
    };
  }

  /** Services (visible from `namespaces`) and workloads the addresses and hostnames select. */
  private resolve(
    onDemand: ReadonlySet<string>,
    namespaces: ReadonlySet<string>,
  ): { services: Set<string>; workloads: Set<string>; deps: Set<string> } {
    const services = new Set<string>();
    const workloads = new Set<string>();
    const deps = new Set<string>(onDemand);
    const svcs = this.set.get(TYPE_SERVICE);
    for (const address of onDemand) {
      const hit = this.byAddress().get(address);
      if (!hit) continue;
      for (const uid of hit.workloads) workloads.add(uid);
      for (const name of hit.services) {
        const r = svcs?.get(name);
        if (!r || !this.visible(name, r, namespaces)) continue;
        services.add(name);
        for (const ep of r.endpoints ?? []) {
          if (!ep.startsWith('@')) workloads.add(ep);
          else {
            deps.add(ep.slice(1));
            for (const uid of this.byAddress().get(ep.slice(1))?.workloads ?? []) workloads.add(uid);
          }
        }
      }
    }
    return { services, workloads, deps };
  }

  /** exportTo and Sidecar egress: visible from at least one of the agent's namespaces. */
  private visible(name: string, r: EncodedResource, namespaces: ReadonlySet<string>): boolean {
    const owner = r.namespace ?? '';
    const vis = this.sidecarVisibility();
    const from = (ns: string | undefined): boolean => {
      if (ns !== undefined && !visibleFrom(r.exportTo, owner, ns)) return false;
      if (ns === undefined && !(r.exportTo ?? ['*']).includes('*')) return false;
      const allowed = (ns !== undefined ? vis.byNamespace.get(ns) : undefined) ?? vis.mesh;
      return allowed === undefined || allowed.has(name);
    };
    if (namespaces.size === 0) return from(undefined);
    for (const ns of namespaces) if (from(ns)) return true;
    return false;
  }

  private sidecarVisibility(): Visibility {
    if (this.visibility) return this.visibility;
    const byNamespace = new Map<string, ReadonlySet<string>>();
    let mesh: ReadonlySet<string> | undefined;
    const root = this.rootNamespace();
    for (const r of this.set.get(TYPE_SIDECAR_SCOPE)?.values() ?? []) {
      const s = JSON.parse(r.body) as { scope?: { namespace?: string; level?: string }; visibleServices?: string[] };
      // A per-workload Sidecar narrows one pod: the namespace's view is wider.
      if (s.scope?.level === 'workload') continue;
      const names = new Set(s.visibleServices ?? []);
      if (s.scope?.namespace === root && s.scope.level === 'mesh') mesh = names;
      else if (s.scope?.namespace !== undefined) byNamespace.set(s.scope.namespace, names);
    }
    this.visibility = { byNamespace, ...(mesh ? { mesh } : {}) };
    return this.visibility;
  }

  private byAddress(): Map<string, ByAddress> {
    if (this.addresses) return this.addresses;
    const out = new Map<string, ByAddress>();
    for (const [name, r] of this.set.get(TYPE_WORKLOAD) ?? [])
      for (const a of r.addresses ?? []) addressEntry(out, a).workloads.add(name);
    for (const [name, r] of this.set.get(TYPE_SERVICE) ?? [])
      for (const a of r.addresses ?? []) addressEntry(out, a).services.add(name);
    this.addresses = out;
    return out;
  }

  private nodeIndex(): NodeIndex {
    if (!this.nodes) {
      this.nodes = { workloads: new Map(), namespaces: new Map() };
      for (const [name, w] of this.set.get(TYPE_WORKLOAD) ?? []) indexNode(this.nodes, name, w, 1);
    }
    return this.nodes;
  }

  private workloadsOn(node: string): Iterable<string> {
    return this.nodeIndex().workloads.get(node) ?? [];
  }

  private namespacesOn(node: string): ReadonlySet<string> {
    return new Set(this.nodeIndex().namespaces.get(node)?.keys() ?? []);
  }

  private rootNamespace(): string {
    if (this.root === undefined) {
      const mesh = this.set.get(TYPE_MESH_CONFIG)?.get(MESH_CONFIG_NAME);
      this.root = mesh
        ? String((JSON.parse(mesh.body) as { rootNamespace?: unknown }).rootNamespace ?? 'istio-system')
        : 'istio-system';
    }
    return this.root;
  }
}

function addressEntry(index: Map<string, ByAddress>, address: string): ByAddress {
  let e = index.get(address);
  if (!e) index.set(address, (e = { services: new Set(), workloads: new Set() }));
  return e;
}

/** Adds (`delta` 1) or removes (-1) one workload in the node index. */
function indexNode(index: NodeIndex, name: string, w: EncodedResource | undefined, delta: 1 | -1): void {
  if (w?.node === undefined) return;
  let names = index.workloads.get(w.node);
  if (!names) index.workloads.set(w.node, (names = new Set()));
  if (delta > 0) names.add(name);
  else names.delete(name);
  if (w.namespace === undefined) return;
  let counts = index.namespaces.get(w.node);
  if (!counts) index.namespaces.set(w.node, (counts = new Map()));
  const n = (counts.get(w.namespace) ?? 0) + delta;
  if (n > 0) counts.set(w.namespace, n);
  else counts.delete(w.namespace);
}

/** A short order-independent digest of a set of names (FNV-1a of the sorted names). */
function digest(names: readonly string[]): string {
  let h = 2166136261;
  for (const n of [...names].sort()) {
    for (let i = 0; i < n.length; i++) h = Math.imul(h ^ n.charCodeAt(i), 16777619) >>> 0;
    h = Math.imul(h ^ 10, 16777619) >>> 0;
  }
  return `${names.length}-${h.toString(36)}`;
}
