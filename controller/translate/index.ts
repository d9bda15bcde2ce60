// translate(): Kubernetes/Istio objects in → the mesh model out (MeshSnapshot for agents,
// one WaypointConfig per namespace with a waypoint, GatewayConfigs), plus every rejected
// object with the field and the reason. Pure: same input, same output (and same version).
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import type { MeshConfig, MeshSnapshot, Service, Workload } from '../../core/model/types.js';
import type { GatewayConfig, WaypointConfig } from '../../core/model/l7.js';
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import { buildInventory, rejectionFor, type Rejection } from './inventory.js';
import { buildWorkloads } from './workloads.js';
import { WorkloadIndex } from './label-index.js';
import { buildServices, VipAllocator } from './services.js';
import { buildServiceEntries, newServiceEntryVips } from './service-entries.js';
import { buildAuthorizationPolicies } from './authz.js';
import { buildPeerAuthentications } from './peer-authn.js';
import { buildRequestAuthentications } from './request-authn.js';
import { buildSidecarScopes } from './sidecar.js';
import { requestedWaypoint, WaypointResolver, GATEWAY_NAME_LABEL } from './waypoint-refs.js';
import { buildL7 } from './l7-build.js';
import { num, rec, stringMap } from './raw.js';
import { contentVersionOf } from './version.js';
import { isMeshConfigMap, meshConfigFrom } from './mesh-config.js';

export { formatRejection, type Rejection } from './inventory.js';

export interface TranslateOptions {
  readonly mesh?: Partial<MeshConfig>;
  /** Where each object came from (`objectKey` → file:line), for rejections. */
  readonly origins?: ReadonlyMap<string, ObjectOrigin>;
  /**
   * Node for pods without spec.nodeName and WorkloadEntries without an `ambit.dev/node`
   * annotation: file/local mode gives this machine's. Default none: in a cluster such a pod
   * is not scheduled yet, and is on no node.
   */
  readonly defaultNode?: string;
  /** DNS domain of services. Default `cluster.local`. */
  readonly domain?: string;
}

export interface TranslateResult {
  readonly snapshot: MeshSnapshot;
  readonly waypoints: ReadonlyMap<string, WaypointConfig>;
  /** Istio ingress/egress gateways by `<ns>/<name>`. */
  readonly gateways: ReadonlyMap<string, GatewayConfig>;
  readonly rejected: readonly Rejection[];
}

export function translate(objects: readonly KubeObject[], opts: TranslateOptions = {}): TranslateResult {
  const domain = opts.domain ?? 'cluster.local';
  const { inventory: inv, rejected } = buildInventory(objects, opts.origins);
  const mesh = resolveMeshConfig(objects, opts, rejected);
  const namespaceLabels = new Map(inv.namespaces.map((n) => [n.metadata.name, stringMap(n.metadata.labels)] as const));
  const nodeLabels = new Map(inv.nodes.map((n) => [n.metadata.name, stringMap(n.metadata.labels)] as const));

  const bareWorkloads = buildWorkloads(inv, { trustDomain: mesh.trustDomain, namespaceLabels, nodeLabels, ...(opts.defaultNode ? { defaultNode: opts.defaultNode } : {}) });
  const resolver = new WaypointResolver(inv, bareWorkloads, mesh.trustDomain);
  const nsWaypoint = new Map<string, ReturnType<WaypointResolver['resolve']>>();
  for (const ns of inv.namespaces) {
    const want = requestedWaypoint(ns.metadata.labels, ns.metadata.name);
    if (!want) continue;
    const res = resolver.resolve(want);
    nsWaypoint.set(ns.metadata.name, res);
    if (res.problem) rejected.push(rejectionFor(ns, 'metadata.labels.mesh-waypoint', res.problem, opts.origins));
  }
  const workloads: Workload[] = bareWorkloads.map((w) => {
    if (w.labels[GATEWAY_NAME_LABEL]) return w; // a waypoint never goes through a waypoint
    const own = requestedWaypoint(w.labels, w.namespace);
    const ref = own ? resolver.resolve(own).ref : w.labels['istio.io/use-waypoint'] === 'none' ? undefined : nsWaypoint.get(w.namespace)?.ref;
    return ref ? { ...w, waypoint: ref } : w;
  });

  const podObjects = new Map<string, KubeObject>();
  for (const p of inv.pods) podObjects.set(`Pod/${p.metadata.namespace ?? 'default'}/${p.metadata.name}`, p);
  for (const d of inv.deployments) {
    const replicas = num(rec(d.spec)?.replicas) ?? 1;
    for (let i = 0; i < replicas; i++) podObjects.set(`Pod/${d.metadata.namespace ?? 'default'}/${d.metadata.name}-${i}`, d);
  }
  const index = new WorkloadIndex(workloads);
  const k8sServices = buildServices(inv, { domain, workloads, podObjects, vips: new VipAllocator([10, 96]), index });
  const serviceLabels = new Map(inv.services.map((s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, stringMap(s.metadata.labels)] as const));
  const seLabels = new Map(inv.serviceEntries.map((s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, stringMap(s.metadata.labels)] as const));
  const services: Service[] = [...k8sServices, ...buildServiceEntries(inv, workloads, newServiceEntryVips(), index)].map((s) => {
    const labels = (s.external !== undefined ? seLabels : serviceLabels).get(`${s.namespace}/${s.name}`);
    const own = requestedWaypoint(labels, s.namespace);
    if (labels?.['istio.io/use-waypoint'] === 'none') return s;
    const ref = own ? resolver.resolve(own).ref : nsWaypoint.get(s.namespace)?.ref;
    return ref ? { ...s, waypoint: ref } : s;
  });

  const authorizationPolicies = buildAuthorizationPolicies(inv.authorizationPolicies, mesh.rootNamespace);
  const peerAuthentications = buildPeerAuthentications(inv.peerAuthentications, mesh.rootNamespace);
  const requestAuthentications = buildRequestAuthentications(inv.requestAuthentications, mesh.rootNamespace);
  const sidecarScopes = buildSidecarScopes(inv.sidecars, mesh.rootNamespace, services);

  // Namespace labels travel to the agents: they decide enrolment of pods they do not know yet.
  const namespaces = [...namespaceLabels].map(([name, labels]) => ({ name, labels })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const body = {
    mesh, workloads, services, authorizationPolicies, peerAuthentications,
    ...(sidecarScopes.length > 0 ? { sidecarScopes } : {}), ...(namespaces.length > 0 ? { namespaces } : {}),
  };
  const snapshot: MeshSnapshot = { version: contentVersionOf(body), ...body };
  const l7 = buildL7({ inv, mesh, domain, snapshot, workloads, services, requestAuthentications, rejected, origins: opts.origins });
  return { snapshot, waypoints: l7.waypoints, gateways: l7.gateways, rejected: dedupe(rejected) };
}

function dedupe(list: readonly Rejection[]): Rejection[] {
  const seen = new Set<string>();
  return list.filter((r) => {
    const k = JSON.stringify([r.kind, r.namespace, r.name, r.field, r.reason]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Defaults < the root namespace's `istio` ConfigMap < explicit options. */
function resolveMeshConfig(objects: readonly KubeObject[], opts: TranslateOptions, rejected: Rejection[]): MeshConfig {
  const root = opts.mesh?.rootNamespace ?? DEFAULT_MESH_CONFIG.rootNamespace;
  const cm = objects.find((o) => isMeshConfigMap(o, root));
  let fromConfigMap: Partial<MeshConfig> = {};
  if (cm) {
    const { mesh, issues } = meshConfigFrom(cm);
    for (const i of issues.list) rejected.push(rejectionFor(cm, i.field, i.reason, opts.origins));
    if (issues.empty) fromConfigMap = mesh;
  }
  return { ...DEFAULT_MESH_CONFIG, ...fromConfigMap, ...opts.mesh };
}
