// translate(): Kubernetes/Istio objects in → the mesh model out (MeshSnapshot for agents,
// one WaypointConfig per namespace with a waypoint, GatewayConfigs), plus every rejected
// object with the field and the reason. Pure: same input, same output (and same version).
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import type { Labels, MeshConfig, MeshSnapshot, Service, Workload } from '../../core/model/types.js';
import type { GatewayConfig, RequestAuthentication, WaypointConfig } from '../../core/model/l7.js';
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import { buildInventory, rejectionFor, type Inventory, type Rejection } from './inventory.js';
import type { Deployment, Pod } from './decode-kube.js';
import { buildWorkloads, type WorkloadContext } from './workloads.js';
import { WorkloadIndex } from './label-index.js';
import { buildServices, VipAllocator } from './services.js';
import { buildServiceEntries, newServiceEntryVips } from './service-entries.js';
import { buildAuthorizationPolicies } from './authz.js';
import { buildPeerAuthentications } from './peer-authn.js';
import { buildRequestAuthentications } from './request-authn.js';
import { buildSidecarScopes } from './sidecar.js';
import { requestedWaypoint, WaypointResolver, type WaypointResolution } from './waypoint-refs.js';
import { GATEWAY_NAME_LABEL } from '../../core/mesh/vocabulary.js';
import { buildL7 } from './l7-build.js';
import { readWasmPlugins } from './wasm-plugins.js';
import { isMeshConfigMap, meshConfigFrom } from './mesh-config.js';
import { withTelemetry } from './telemetry.js';
import { snapshotVersion } from './snapshot-version.js';

export { formatRejection, type Rejection } from './inventory.js';
export { snapshotVersion } from './snapshot-version.js';

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
  return translateWithState(objects, opts).result;
}

/** What the incremental translator keeps from a full translation (see incremental.ts). */
export interface TranslationState {
  readonly result: TranslateResult;
  readonly inv: Inventory;
  readonly mesh: MeshConfig;
  readonly domain: string;
  readonly workloadCtx: WorkloadContext;
  readonly resolver: WaypointResolver;
  readonly nsWaypoint: ReadonlyMap<string, WaypointResolution>;
  readonly workloads: Workload[];
  readonly index: WorkloadIndex;
  readonly podObjects: Map<string, Pod | Deployment>;
  readonly k8sServices: Service[];
  readonly serviceEntries: Service[];
  readonly serviceLabels: ReadonlyMap<string, Labels>;
  readonly requestAuthentications: readonly RequestAuthentication[];
  /** Rejections before L7 (validation, waypoint labels), and those of the L7 build. */
  readonly baseRejected: readonly Rejection[];
  readonly l7Rejected: readonly Rejection[];
}

/** The waypoint a workload goes through (a waypoint's own workload never goes through one). */
export function withWorkloadWaypoint(
  w: Workload,
  resolver: WaypointResolver,
  nsWaypoint: ReadonlyMap<string, WaypointResolution>,
): Workload {
  if (w.labels[GATEWAY_NAME_LABEL]) return w;
  const own = requestedWaypoint(w.labels, w.namespace);
  const ref = own
    ? resolver.resolve(own).ref
    : w.labels['istio.io/use-waypoint'] === 'none'
      ? undefined
      : nsWaypoint.get(w.namespace)?.ref;
  return ref ? { ...w, waypoint: ref } : w;
}

/** The waypoint a Service (or ServiceEntry) goes through, from its labels or its namespace's. */
export function withServiceWaypoint(
  s: Service,
  labels: Labels | undefined,
  resolver: WaypointResolver,
  nsWaypoint: ReadonlyMap<string, WaypointResolution>,
): Service {
  const own = requestedWaypoint(labels, s.namespace);
  if (labels?.['istio.io/use-waypoint'] === 'none') return s;
  const ref = own ? resolver.resolve(own).ref : nsWaypoint.get(s.namespace)?.ref;
  return ref ? { ...s, waypoint: ref } : s;
}

export function translateWithState(objects: readonly KubeObject[], opts: TranslateOptions = {}): TranslationState {
  const domain = opts.domain ?? 'cluster.local';
  const { inventory: inv, rejected } = buildInventory(objects, opts.origins);
  const mesh = withTelemetry(resolveMeshConfig(objects, opts, rejected), objects, rejected, opts.origins);
  const namespaceLabels = new Map(inv.namespaces.map((n) => [n.metadata.name, n.metadata.labels ?? {}] as const));
  const nodeLabels = new Map(inv.nodes.map((n) => [n.metadata.name, n.metadata.labels ?? {}] as const));

  const workloadCtx: WorkloadContext = {
    trustDomain: mesh.trustDomain,
    namespaceLabels,
    nodeLabels,
    ...(opts.defaultNode ? { defaultNode: opts.defaultNode } : {}),
  };
  const bareWorkloads = buildWorkloads(inv, workloadCtx);
  const resolver = new WaypointResolver(inv, bareWorkloads, mesh.trustDomain);
  const nsWaypoint = new Map<string, WaypointResolution>();
  for (const ns of inv.namespaces) {
    const want = requestedWaypoint(ns.metadata.labels, ns.metadata.name);
    if (!want) continue;
    const res = resolver.resolve(want);
    nsWaypoint.set(ns.metadata.name, res);
    if (res.problem) rejected.push(rejectionFor(ns, 'metadata.labels.mesh-waypoint', res.problem, opts.origins));
  }
  const workloads: Workload[] = bareWorkloads.map((w) => withWorkloadWaypoint(w, resolver, nsWaypoint));

  const podObjects = new Map<string, Pod | Deployment>();
  for (const p of inv.pods) podObjects.set(`Pod/${p.metadata.namespace ?? 'default'}/${p.metadata.name}`, p);
  for (const d of inv.deployments) {
    const replicas = d.spec?.replicas ?? 1;
    for (let i = 0; i < replicas; i++)
      podObjects.set(`Pod/${d.metadata.namespace ?? 'default'}/${d.metadata.name}-${i}`, d);
  }
  const index = new WorkloadIndex(workloads);
  const serviceLabels = new Map(
    inv.services.map(
      (s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s.metadata.labels ?? {}] as const,
    ),
  );
  const seLabels = new Map(
    inv.serviceEntries.map(
      (s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s.metadata.labels ?? {}] as const,
    ),
  );
  const k8sServices = buildServices(inv, {
    domain,
    workloads,
    podObjects,
    vips: new VipAllocator([10, 96]),
    index,
  }).map((s) => withServiceWaypoint(s, serviceLabels.get(`${s.namespace}/${s.name}`), resolver, nsWaypoint));
  const serviceEntries = buildServiceEntries(inv, workloads, newServiceEntryVips(mesh), index).map((s) =>
    withServiceWaypoint(s, seLabels.get(`${s.namespace}/${s.name}`), resolver, nsWaypoint),
  );
  const services: Service[] = [...k8sServices, ...serviceEntries];

  const authorizationPolicies = buildAuthorizationPolicies(inv.authorizationPolicies, mesh.rootNamespace);
  const peerAuthentications = buildPeerAuthentications(inv.peerAuthentications, mesh.rootNamespace);
  const requestAuthentications = buildRequestAuthentications(inv.requestAuthentications, mesh.rootNamespace);
  const sidecarScopes = buildSidecarScopes(inv.sidecars, mesh.rootNamespace, services);

  // Namespace labels travel to the agents: they decide enrolment of pods they do not know yet.
  const namespaces = [...namespaceLabels]
    .map(([name, labels]) => ({ name, labels }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const body = {
    mesh,
    workloads,
    services,
    authorizationPolicies,
    peerAuthentications,
    ...(sidecarScopes.length > 0 ? { sidecarScopes } : {}),
    ...(namespaces.length > 0 ? { namespaces } : {}),
  };
  const snapshot: MeshSnapshot = { version: snapshotVersion(body), ...body };
  const baseRejected = [...rejected];
  const l7 = buildL7({
    inv,
    mesh,
    domain,
    snapshot,
    workloads,
    services,
    requestAuthentications,
    rejected,
    origins: opts.origins,
    wasmPlugins: readWasmPlugins(objects, rejected, opts.origins),
  });
  const result = { snapshot, waypoints: l7.waypoints, gateways: l7.gateways, rejected: dedupe(rejected) };
  return {
    result,
    inv,
    mesh,
    domain,
    workloadCtx,
    resolver,
    nsWaypoint,
    workloads,
    index,
    podObjects,
    k8sServices,
    serviceEntries,
    serviceLabels,
    requestAuthentications,
    baseRejected,
    l7Rejected: rejected.slice(baseRejected.length),
  };
}

export function dedupe(list: readonly Rejection[]): Rejection[] {
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
