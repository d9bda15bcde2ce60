// Incremental translation. The translator remembers the objects of its last translation and
// what was built from them, indexed by what each object affects. When only Pods changed
// (the churn of a running mesh), it rebuilds those pods' workloads, the services that select
// them (or list them in an EndpointSlice), and the waypoint/gateway configs that carry
// those services; every other item of the result is the previous object, unchanged. Any
// other change (a Service, a policy, a namespace's labels, mesh settings, …) goes through
// the full `translate()`. Either way the result equals `translate(objects, opts)`; the
// property test in incremental.test.ts checks that on random changes.
import type { KubeObject } from '../sources/types.js';
import type { Service, Workload } from '../../core/model/types.js';
import type { GatewayConfig, WaypointConfig } from '../../core/model/l7.js';
import {
  snapshotVersion,
  translateWithState,
  withServiceWaypoint,
  withWorkloadWaypoint,
  type TranslateOptions,
  type TranslateResult,
  type TranslationState,
} from './index.js';
import { fromPod } from './workloads.js';
import { buildServices, VipAllocator } from './services.js';
import { buildServiceEntries, newServiceEntryVips } from './service-entries.js';
import { buildSidecarScopes } from './sidecar.js';
import { buildL7 } from './l7-build.js';
import { recordListDelta } from './list-delta.js';
import { DestinationRules, buildCluster } from './destination-rules.js';
import { contentVersionOf } from './version.js';
import { validatePod } from './validate/kubernetes.js';
import { decodeKubeObject, decodePod, type EndpointSlice, type K8sService, type Pod } from './decode-kube.js';
import { endpointSliceBody } from '../../core/crds/kubernetes.js';
import { GATEWAY_NAME_LABEL } from './waypoint-refs.js';
import { labelsMatch } from './collections.js';

/** More changed objects than this in one translation: a full translation is as cheap. */
const MAX_INCREMENTAL_CHANGES = 500;

type Pair<T> = [T | undefined, T | undefined];

/** Changed Pods by uid and EndpointSlices by `ns/name`, decoded: [before, after]. */
interface Changes {
  readonly pods: ReadonlyMap<string, Pair<Pod>>;
  readonly slices: ReadonlyMap<string, Pair<EndpointSlice>>;
}

/** `ns/service` an EndpointSlice belongs to (its kubernetes.io/service-name label). */
function sliceService(slice: EndpointSlice): string | undefined {
  const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
  return svc ? `${slice.metadata.namespace ?? 'default'}/${svc}` : undefined;
}

interface ServiceEntryRef {
  readonly obj: K8sService;
  readonly at: number;
  readonly selector?: Readonly<Record<string, string>>;
}

/** Indexes over a full translation's state, built once per full translation. */
interface Indexes {
  readonly workloadsByUid: Map<string, Workload>;
  /** Kubernetes Services by namespace, with their position in `k8sServices`. */
  readonly servicesByNs: Map<string, ServiceEntryRef[]>;
  /** Pod uid → `ns/name` of the services whose EndpointSlices name it. */
  readonly slicedPods: Map<string, Set<string>>;
  readonly serviceByName: Map<string, ServiceEntryRef>;
  readonly slicesByService: Map<string, EndpointSlice[]>;
  /** Uids of the replicas local mode expands Deployments into. */
  readonly replicaUids: Set<string>;
  /** Hostname → namespaces whose waypoint config carries it; hostnames gateways carry. */
  l7Hosts: Map<string, Set<string>>;
  gatewayHosts: Set<string>;
  /** DestinationRules of the inventory (clusters of waypoint configs), made on first use. */
  drs?: DestinationRules;
}

export type TranslationMode = 'full' | 'incremental' | 'unchanged';

export class IncrementalTranslator {
  private state: TranslationState | undefined;
  private idx: Indexes | undefined;
  private objects = new Set<KubeObject>();
  private optsKey = '';
  private result: TranslateResult | undefined;
  /** How the last call was answered (for logs, metrics and tests). */
  lastMode: TranslationMode = 'full';

  translate(objects: readonly KubeObject[], opts: TranslateOptions = {}): TranslateResult {
    const optsKey = JSON.stringify([opts.mesh ?? null, opts.defaultNode ?? null, opts.domain ?? null]);
    const next = new Set(objects);
    const changes =
      this.result && optsKey === this.optsKey && next.size === objects.length ? this.diff(objects, next) : undefined;
    this.objects = next;
    this.optsKey = optsKey;
    if (changes && changes.added.length === 0 && changes.removed.length === 0) {
      this.lastMode = 'unchanged';
      return this.result!;
    }
    const pods = changes ? this.podChanges(changes.added, changes.removed) : undefined;
    if (!pods) return this.full(objects, opts);
    try {
      this.result = this.applyPods(pods, opts);
      this.lastMode = 'incremental';
      return this.result;
    } catch {
      return this.full(objects, opts); // the kept state may be half updated: start over
    }
  }

  /**
   * Builds the indexes the next incremental translation needs, if the last one was full (the
   * controller calls it once a full translation has been pushed, off the change's path).
   */
  prepare(): void {
    if (this.state && !this.idx) this.indexes();
  }

  private full(objects: readonly KubeObject[], opts: TranslateOptions): TranslateResult {
    this.lastMode = 'full';
    this.state = translateWithState(objects, opts);
    this.idx = undefined; // built on the first incremental change
    this.result = this.state.result;
    return this.result;
  }

  private diff(
    objects: readonly KubeObject[],
    next: ReadonlySet<KubeObject>,
  ): { added: KubeObject[]; removed: KubeObject[] } | undefined {
    const added: KubeObject[] = [];
    let kept = 0;
    for (const o of objects) {
      if (this.objects.has(o)) kept++;
      else if (added.push(o) > MAX_INCREMENTAL_CHANGES) return undefined;
    }
    const removed: KubeObject[] = [];
    if (kept < this.objects.size)
      for (const o of this.objects) if (!next.has(o) && removed.push(o) > MAX_INCREMENTAL_CHANGES) return undefined;
    return { added, removed };
  }

  /** Pod uid → [old, new] when every change is a valid, non-waypoint Pod; else undefined. */
  private podChanges(added: readonly KubeObject[], removed: readonly KubeObject[]): Changes | undefined {
    const idx = this.indexes();
    const out = new Map<string, Pair<Pod>>();
    const slices = new Map<string, Pair<EndpointSlice>>();
    for (const [list, slot] of [
      [removed, 0],
      [added, 1],
    ] as const) {
      for (const o of list) {
        if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') return undefined;
        // Decoded the way the inventory decodes them (the same cached value); a rejected one: full translation.
        if (o.kind === 'EndpointSlice' && o.apiVersion === 'discovery.k8s.io/v1') {
          const decoded = decodeKubeObject(o, endpointSliceBody);
          if (decoded.issues.length > 0) return undefined;
          const key = `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
          const pair = slices.get(key) ?? [undefined, undefined];
          if (pair[slot] !== undefined) return undefined;
          pair[slot] = decoded.value;
          slices.set(key, pair);
          continue;
        }
        if (o.kind !== 'Pod' || o.apiVersion !== 'v1') return undefined;
        const decoded = decodePod(o);
        if (decoded.issues.length > 0) return undefined;
        const pod = decoded.value;
        if (pod.metadata.labels?.[GATEWAY_NAME_LABEL] !== undefined || !validatePod(pod).empty) return undefined;
        const uid = `Pod/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
        if (idx.replicaUids.has(uid)) return undefined;
        const pair = out.get(uid) ?? [undefined, undefined];
        if (pair[slot] !== undefined) return undefined; // the same pod twice
        pair[slot] = pod;
        out.set(uid, pair);
      }
    }
    // A slice that moves to another service would change the order of that service's slices:
    // the full translation decides.
    for (const [before, after] of slices.values()) {
      if (before && after && sliceService(before) !== sliceService(after)) return undefined;
    }
    return { pods: out, slices };
  }

  private indexes(): Indexes {
    if (this.idx) return this.idx;
    const st = this.state!;
    const servicesByNs = new Map<string, ServiceEntryRef[]>();
    const serviceByName = new Map<string, ServiceEntryRef>();
    const objByName = new Map(
      st.inv.services.map((o) => [`${o.metadata.namespace ?? 'default'}/${o.metadata.name}`, o] as const),
    );
    st.k8sServices.forEach((s, at) => {
      const obj = objByName.get(`${s.namespace}/${s.name}`)!;
      const selector = obj.spec?.selector;
      const ref: ServiceEntryRef = { obj, at, ...(selector && Object.keys(selector).length > 0 ? { selector } : {}) };
      serviceByName.set(`${s.namespace}/${s.name}`, ref);
      const list = servicesByNs.get(s.namespace);
      if (list) list.push(ref);
      else servicesByNs.set(s.namespace, [ref]);
    });
    const slicesByService = new Map<string, EndpointSlice[]>();
    const slicedPods = new Map<string, Set<string>>();
    for (const slice of st.inv.endpointSlices) {
      const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const ns = slice.metadata.namespace ?? 'default';
      const key = `${ns}/${svc}`;
      slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice]);
      indexSlicePods(slicedPods, slice, key);
    }
    const replicaUids = new Set<string>();
    for (const [uid, o] of st.podObjects) if (o.kind === 'Deployment') replicaUids.add(uid);
    this.idx = {
      workloadsByUid: new Map(st.workloads.map((w) => [w.uid, w] as const)),
      servicesByNs,
      serviceByName,
      slicedPods,
      slicesByService,
      replicaUids,
      l7Hosts: new Map(),
      gatewayHosts: new Set(),
    };
    this.indexL7(st.result.waypoints, st.result.gateways);
    return this.idx;
  }

  private indexL7(waypoints: ReadonlyMap<string, WaypointConfig>, gateways: ReadonlyMap<string, GatewayConfig>): void {
    const idx = this.idx!;
    idx.l7Hosts = new Map();
    for (const [ns, cfg] of waypoints) {
      for (const host of [...cfg.virtualHosts.map((v) => v.host), ...cfg.clusters.map((c) => c.host)]) {
        const set = idx.l7Hosts.get(host) ?? new Set<string>();
        set.add(ns);
        idx.l7Hosts.set(host, set);
      }
    }
    idx.gatewayHosts = new Set([...gateways.values()].flatMap((g) => g.clusters.map((c) => c.host)));
  }

  private applyPods(changes: Changes, opts: TranslateOptions): TranslateResult {
    const st = this.state!;
    const idx = this.indexes();
    const prev = this.result!;
    const workloads = st.workloads.slice();
    const affected = new Set<string>(); // `ns/name` of Kubernetes Services to rebuild
    for (const [uid, [, after]] of changes.pods) {
      const before = idx.workloadsByUid.get(uid);
      const ns = uid.slice(4, uid.indexOf('/', 4));
      const now = after ? fromPod(st.workloadCtx, after) : undefined;
      const next = now ? withWorkloadWaypoint(now, st.resolver, st.nsWaypoint) : undefined;
      for (const ref of idx.servicesByNs.get(ns) ?? []) {
        if (!ref.selector) continue;
        if ((before && labelsMatch(ref.selector, before.labels)) || (next && labelsMatch(ref.selector, next.labels))) {
          affected.add(`${ns}/${ref.obj.metadata.name}`);
        }
      }
      for (const key of idx.slicedPods.get(uid) ?? []) affected.add(key);
      if (before) {
        st.index.remove(before);
        workloads.splice(findUid(workloads, uid), 1);
        idx.workloadsByUid.delete(uid);
      }
      if (next) {
        st.index.add(next);
        workloads.splice(insertionPoint(workloads, uid), 0, next);
        idx.workloadsByUid.set(uid, next);
      }
      if (after) st.podObjects.set(uid, after);
      else st.podObjects.delete(uid);
    }
    // EndpointSlices: the service they belong to is rebuilt (the slice keeps its place among
    // the service's slices, as the object keeps its place in the input).
    for (const [before, after] of changes.slices.values()) {
      const key = sliceService((after ?? before)!);
      if (!key) continue; // a slice of no service is read by nothing
      const list = idx.slicesByService.get(key) ?? [];
      const at = before ? list.indexOf(before) : -1;
      if (after && at >= 0) list[at] = after;
      else if (at >= 0) list.splice(at, 1);
      else if (after) list.push(after);
      if (list.length > 0) idx.slicesByService.set(key, list);
      else idx.slicesByService.delete(key);
      if (after) indexSlicePods(idx.slicedPods, after, key); // a superset is fine: it only widens the rebuild
      if (idx.serviceByName.has(key)) affected.add(key);
    }

    const k8sServices = st.k8sServices.slice();
    const changedHosts = new Set<string>();
    if (affected.size > 0) {
      const objs = [...affected].map((k) => idx.serviceByName.get(k)!.obj);
      const slices = [...affected].flatMap((k) => idx.slicesByService.get(k) ?? []);
      const rebuilt = buildServices(
        { ...st.inv, services: objs, endpointSlices: slices },
        {
          domain: st.domain,
          workloads,
          podObjects: st.podObjects,
          vips: new VipAllocator([10, 96]),
          index: st.index,
          byUid: idx.workloadsByUid,
        },
      );
      for (const s of rebuilt) {
        const ref = idx.serviceByName.get(`${s.namespace}/${s.name}`)!;
        // VIPs depend on the Services only, never on pods: keep the ones allocated before.
        const withVips = { ...s, vips: k8sServices[ref.at]!.vips };
        k8sServices[ref.at] = withServiceWaypoint(
          withVips,
          st.serviceLabels.get(`${s.namespace}/${s.name}`),
          st.resolver,
          st.nsWaypoint,
        );
        changedHosts.add(s.hostname);
      }
    }
    let serviceEntries = st.serviceEntries;
    if (st.inv.serviceEntries.length > 0) {
      const seLabels = new Map(
        st.inv.serviceEntries.map(
          (s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s.metadata.labels ?? {}] as const,
        ),
      );
      serviceEntries = buildServiceEntries(st.inv, workloads, newServiceEntryVips(st.mesh), st.index).map((s) =>
        withServiceWaypoint(s, seLabels.get(`${s.namespace}/${s.name}`), st.resolver, st.nsWaypoint),
      );
      for (const s of serviceEntries) changedHosts.add(s.hostname);
    }
    const services: Service[] = [...k8sServices, ...serviceEntries];
    // What changed in the two big lists, for the encoder.
    recordListDelta(workloads, {
      base: st.workloads,
      changes: [...changes.pods.keys()].map((uid) => [uid, idx.workloadsByUid.get(uid)] as const),
    });
    const replaced = [...affected].map((k) => k8sServices[idx.serviceByName.get(k)!.at]!);
    recordListDelta(services, {
      base: prev.snapshot.services,
      changes: [...replaced, ...(serviceEntries === st.serviceEntries ? [] : serviceEntries)].map(
        (s) => [s.key, s] as const,
      ),
    });
    const sidecarScopes =
      st.inv.sidecars.length > 0 ? buildSidecarScopes(st.inv.sidecars, st.mesh.rootNamespace, services) : [];
    const old = prev.snapshot;
    const body = {
      mesh: old.mesh,
      workloads,
      services,
      authorizationPolicies: old.authorizationPolicies,
      peerAuthentications: old.peerAuthentications,
      ...(sidecarScopes.length > 0 ? { sidecarScopes } : {}),
      ...(old.namespaces ? { namespaces: old.namespaces } : {}),
    };
    const snapshot = { version: snapshotVersion(body), ...body };

    // Waypoint and gateway configs that carry a rebuilt service (which hosts a config carries
    // depends on services and routes, never on pods).
    const namespaces = new Set<string>();
    for (const h of changedHosts) for (const ns of idx.l7Hosts.get(h) ?? []) namespaces.add(ns);
    const gatewaysToo = [...changedHosts].some((h) => idx.gatewayHosts.has(h));
    let waypoints = prev.waypoints;
    let gateways = prev.gateways;
    if (namespaces.size > 0) {
      // Only the clusters of rebuilt services change (their endpoints): the virtual hosts
      // and routes depend on services and routes, never on pods.
      const drs = (idx.drs ??= new DestinationRules(st.inv, st.domain, st.mesh.rootNamespace));
      const byHost = new Map<string, Service | undefined>();
      for (const h of changedHosts)
        byHost.set(
          h,
          services.findLast((s) => s.hostname === h),
        );
      const merged = new Map(prev.waypoints);
      for (const ns of namespaces) {
        const cfg = prev.waypoints.get(ns);
        if (!cfg) continue;
        const { version: _version, ...rest } = cfg;
        const clusters = cfg.clusters.map((c) =>
          changedHosts.has(c.host)
            ? buildCluster(c.host, c.port, c.subset, byHost.get(c.host), idx.workloadsByUid, drs, ns)
            : c,
        );
        const body = { ...rest, clusters };
        merged.set(ns, { ...body, version: contentVersionOf(body) });
      }
      waypoints = merged;
    }
    if (gatewaysToo) {
      const l7 = buildL7({
        inv: st.inv,
        mesh: st.mesh,
        domain: st.domain,
        snapshot,
        workloads,
        services,
        requestAuthentications: st.requestAuthentications,
        rejected: [],
        origins: opts.origins,
        only: { namespaces: new Set(), gateways: true },
      });
      gateways = l7.gateways;
    }
    this.state = {
      ...st,
      workloads,
      k8sServices,
      serviceEntries,
      result: { snapshot, waypoints, gateways, rejected: prev.rejected },
    };
    return this.state.result;
  }
}

/** Records that the pods a slice names are endpoints of service `key`. */
function indexSlicePods(slicedPods: Map<string, Set<string>>, slice: EndpointSlice, key: string): void {
  const ns = slice.metadata.namespace ?? 'default';
  for (const ep of slice.endpoints ?? []) {
    const target = ep.targetRef;
    if (!target || target.kind !== 'Pod') continue;
    const uid = `Pod/${target.namespace ?? ns}/${String(target.name)}`;
    const set = slicedPods.get(uid) ?? new Set<string>();
    set.add(key);
    slicedPods.set(uid, set);
  }
}

function insertionPoint(sorted: readonly Workload[], uid: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function findUid(sorted: readonly Workload[], uid: string): number {
  const at = insertionPoint(sorted, uid);
  return sorted[at]?.uid === uid ? at : sorted.findIndex((w) => w.uid === uid);
}
