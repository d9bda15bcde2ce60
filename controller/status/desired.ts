// The Gateway API status Ambit owns, computed from the object set alone (pure):
// - a waypoint Gateway (class ambit-waypoint / istio-waypoint): conditions Accepted and
//   Programmed, and `addresses`: the IPs of its running pods, which agents dial for HBONE (the
//   translator reads them back as the waypoint's address; Istio lists the waypoint Service's
//   ClusterIP there, which needs kube-proxy in front of the waypoint);
// - an HTTPRoute or GRPCRoute: one `parents[]` entry per parentRef Ambit serves, with Accepted
//   (NoMatchingParent when the Service is missing, has no waypoint, or lacks the port) and
//   ResolvedRefs (BackendNotFound, InvalidKind, RefNotPermitted, UnsupportedProtocol: a GRPCRoute backend port
//   that is not grpc/http2).
// Entries of other controllers in `parents` are kept; lastTransitionTime moves only when a
// condition's status changes.
import { portProtocol } from '../translate/services.js';
import {
  decodeKubeObject,
  type GrpcRoute,
  type HttpRoute,
  type K8sGateway,
  type K8sService,
  type Namespace,
  type Pod,
  type ReferenceGrant,
} from '../translate/decode-kube.js';
import type { BackendRef } from '../translate/http-routes.js';
import * as gwapi from '../../core/crds/gateway-api.js';
import type { ParentRef, RouteStatus } from '../../core/crds/gateway-api.js';
import * as k8s from '../../core/crds/kubernetes.js';
import type { DecodeResult } from '../translate/decode-object.js';
import type { Issue } from '../translate/validate/common.js';
import { ReferenceGrants } from '../translate/reference-grants.js';
import { isWaypointGateway, requestedWaypoint } from '../translate/waypoint-refs.js';
import { validateHttpRoute } from '../translate/validate/gateway-api.js';
import { validateGrpcRoute } from '../translate/grpc-route-validate.js';
import { GATEWAY_NAME_LABEL } from '../../core/mesh/vocabulary.js';
import type { KubeObject } from '../sources/types.js';

/** controllerName for routes attached to Services (the waypoint's) and waypoint Gateways. */
export const MESH_CONTROLLER = 'ambit.dev/mesh-controller';
/** controllerName for routes attached to ingress Gateways. */
export const GATEWAY_CONTROLLER = 'ambit.dev/gateway-controller';
const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface StatusTarget {
  readonly apiVersion: string;
  readonly kind: 'Gateway' | 'HTTPRoute' | 'GRPCRoute';
  readonly plural: 'gateways' | 'httproutes' | 'grpcroutes';
  readonly namespace: string;
  readonly name: string;
}

export interface DesiredStatus {
  readonly target: StatusTarget;
  /** The object as last seen (its status and resourceVersion). */
  readonly object: KubeObject;
  /** The whole `status` to hold, merged with what others wrote. */
  readonly status: Readonly<Record<string, unknown>>;
}

type Route = HttpRoute | GrpcRoute;
type Previous = readonly { readonly type?: string; readonly status?: string; readonly lastTransitionTime?: string }[];

const nsOf = (o: KubeObject): string => o.metadata.namespace ?? 'default';
const keyOf = (ns: string, name: string): string => `${ns}/${name}`;

function condition(type: string, ok: boolean, reason: string, message: string, generation?: number): Condition {
  return {
    type,
    status: ok ? 'True' : 'False',
    reason,
    message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

/** Keeps lastTransitionTime where a condition's status did not change; stamps `now` elsewhere. */
export function withTransitionTimes(next: Condition[], previous: Previous | undefined, now: string): Condition[] {
  const before = new Map((previous ?? []).map((c) => [c.type, c] as const));
  return next.map((c) => {
    const old = before.get(c.type);
    const kept = old && old.status === c.status ? old.lastTransitionTime : undefined;
    return { ...c, lastTransitionTime: kept ?? now };
  });
}

interface World {
  services: Map<string, K8sService>;
  namespaces: Map<string, Namespace>;
  gateways: Map<string, K8sGateway>;
  /** Running pods' IPs per waypoint `ns/name`. */
  waypointIps: Map<string, string[]>;
  grants: ReferenceGrants;
}

/** The decoded object, or undefined when it does not decode (the translation rejects it: it counts as absent). */
function valid<T>(r: DecodeResult<T>): T | undefined {
  return r.issues.length > 0 ? undefined : r.value;
}

const isGatewayApi = (o: KubeObject): boolean => o.apiVersion.startsWith(`${GATEWAY_GROUP}/`);

function world(objects: readonly KubeObject[]): World {
  const grants: ReferenceGrant[] = [];
  for (const o of objects) {
    const g =
      o.kind === 'ReferenceGrant' && isGatewayApi(o) ? valid(decodeKubeObject(o, gwapi.referenceGrantBody)) : undefined;
    if (g) grants.push(g);
  }
  const w: World = {
    services: new Map(),
    namespaces: new Map(),
    gateways: new Map(),
    waypointIps: new Map(),
    grants: new ReferenceGrants(grants),
  };
  for (const o of objects) {
    if (o.kind === 'Service' && o.apiVersion === 'v1') {
      const svc: K8sService | undefined = valid(decodeKubeObject(o, k8s.serviceBody));
      if (svc) w.services.set(keyOf(nsOf(o), o.metadata.name), svc);
    } else if (o.kind === 'Namespace') {
      const ns: Namespace | undefined = valid(decodeKubeObject(o, k8s.metadataOnlyBody));
      if (ns) w.namespaces.set(o.metadata.name, ns);
    } else if (o.kind === 'Gateway' && isGatewayApi(o)) {
      const gw: K8sGateway | undefined = valid(decodeKubeObject(o, gwapi.gatewayBody));
      if (gw) w.gateways.set(keyOf(nsOf(o), o.metadata.name), gw);
    }
  }
  for (const o of objects) {
    const gw = o.kind === 'Pod' ? o.metadata.labels?.[GATEWAY_NAME_LABEL] : undefined;
    const pod: Pod | undefined = gw ? valid(decodeKubeObject(o, k8s.podBody)) : undefined;
    const ip = pod?.status?.podIP;
    if (!gw || !pod || !ip || pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp) continue;
    const list = w.waypointIps.get(keyOf(nsOf(o), gw)) ?? [];
    list.push(ip);
    w.waypointIps.set(keyOf(nsOf(o), gw), list);
  }
  return w;
}

function gatewayStatus(gw: K8sGateway, w: World, now: string): Readonly<Record<string, unknown>> {
  const gen = gw.metadata.generation;
  const ips = [...(w.waypointIps.get(keyOf(nsOf(gw), gw.metadata.name)) ?? [])].sort();
  const conditions = [
    condition('Accepted', true, 'Accepted', 'Resource accepted', gen),
    ips.length > 0
      ? condition('Programmed', true, 'Programmed', `waypoint serving at ${ips.join(', ')}`, gen)
      : condition('Programmed', false, 'Pending', 'no waypoint pod is running yet', gen),
  ];
  const previous = gw.status ?? {};
  return {
    ...previous,
    conditions: withTransitionTimes(conditions, previous.conditions, now),
    addresses: ips.map((value) => ({ type: 'IPAddress', value })),
  };
}

/** The waypoint a Service goes through (its own label, else its namespace's), or undefined. */
function serviceWaypoint(svc: K8sService, w: World): { namespace: string; name: string } | undefined {
  const labels = svc.metadata.labels;
  if (labels?.['istio.io/use-waypoint'] === 'none') return undefined;
  const ns = nsOf(svc);
  return requestedWaypoint(labels, ns) ?? requestedWaypoint(w.namespaces.get(ns)?.metadata.labels, ns);
}

function servicePorts(svc: K8sService): number[] {
  return (svc.spec?.ports ?? []).map((p) => p.port);
}

/** Accepted for one parentRef, and which controller answers for it (undefined: not ours). */
function parentAccepted(
  route: Route,
  ref: ParentRef,
  w: World,
): { controller: string; ok: boolean; reason: string; message: string } | undefined {
  const ns = ref.namespace ?? nsOf(route);
  const name = ref.name;
  const kind = ref.kind ?? 'Gateway';
  const group = ref.group ?? GATEWAY_GROUP;
  const port = ref.port;
  if (kind === 'Service' && (group === '' || group === 'core')) {
    const svc = w.services.get(keyOf(ns, name));
    const no = (message: string): { controller: string; ok: boolean; reason: string; message: string } => ({
      controller: MESH_CONTROLLER,
      ok: false,
      reason: 'NoMatchingParent',
      message,
    });
    if (!svc) return no(`Service ${ns}/${name} not found`);
    if (port !== undefined && !servicePorts(svc).includes(port))
      return no(`port ${port} is not a port of Service ${ns}/${name}`);
    const wp = serviceWaypoint(svc, w);
    if (!wp) return no(`Service ${ns}/${name} has no waypoint (label istio.io/use-waypoint on it or its namespace)`);
    const gw = w.gateways.get(keyOf(wp.namespace, wp.name));
    if (!gw || !isWaypointGateway(gw))
      return no(`the waypoint Gateway ${wp.namespace}/${wp.name} of Service ${ns}/${name} is not found`);
    return {
      controller: MESH_CONTROLLER,
      ok: true,
      reason: 'Accepted',
      message: `applied at waypoint ${wp.namespace}/${wp.name}`,
    };
  }
  if (kind !== 'Gateway' || group !== GATEWAY_GROUP) return undefined;
  const gw = w.gateways.get(keyOf(ns, name));
  if (!gw)
    return {
      controller: GATEWAY_CONTROLLER,
      ok: false,
      reason: 'NoMatchingParent',
      message: `Gateway ${ns}/${name} not found`,
    };
  if (isWaypointGateway(gw))
    return {
      controller: MESH_CONTROLLER,
      ok: false,
      reason: 'UnsupportedValue',
      message:
        'a route attached to a waypoint Gateway is not applied: attach it to the Service (parentRef kind Service)',
    };
  if (route.kind === 'GRPCRoute')
    return {
      controller: GATEWAY_CONTROLLER,
      ok: false,
      reason: 'UnsupportedValue',
      message: 'GRPCRoute is applied at waypoints only, not at ingress Gateways',
    };
  const section = ref.sectionName;
  const listeners = (gw.spec.listeners ?? []).filter(
    (l) => (section === undefined || l.name === section) && (port === undefined || l.port === port),
  );
  if (listeners.length === 0)
    return {
      controller: GATEWAY_CONTROLLER,
      ok: false,
      reason: 'NoMatchingParent',
      message: `no listener of Gateway ${ns}/${name} matches`,
    };
  return { controller: GATEWAY_CONTROLLER, ok: true, reason: 'Accepted', message: 'Route was valid' };
}

/** ResolvedRefs for a route's backendRefs and mirror backends. */
function resolvedRefs(route: Route, w: World): { ok: boolean; reason: string; message: string } {
  const rules: readonly Pick<NonNullable<HttpRoute['spec']['rules']>[number], 'backendRefs' | 'filters'>[] =
    route.spec.rules ?? [];
  const refs: BackendRef[] = rules.flatMap((r) => [
    ...(r.backendRefs ?? []),
    ...(r.filters ?? []).map((f) => f.requestMirror?.backendRef).filter((b): b is BackendRef => b !== undefined),
  ]);
  for (const ref of refs) {
    const kind = ref.kind ?? 'Service';
    const group = ref.group ?? '';
    const ns = ref.namespace ?? nsOf(route);
    const name = ref.name;
    if (kind !== 'Service' || (group !== '' && group !== 'core'))
      return {
        ok: false,
        reason: 'InvalidKind',
        message: `backend kind ${group ? `${group}/` : ''}${kind} is not supported`,
      };
    if (!w.grants.allows(route.kind, nsOf(route), ns, name))
      return {
        ok: false,
        reason: 'RefNotPermitted',
        message: `no ReferenceGrant in ${ns} lets a ${route.kind} of ${nsOf(route)} reference Service ${name}`,
      };
    const svc = w.services.get(keyOf(ns, name));
    if (!svc) return { ok: false, reason: 'BackendNotFound', message: `Service ${ns}/${name} not found` };
    const port = ref.port;
    if (port !== undefined && !servicePorts(svc).includes(port))
      return { ok: false, reason: 'BackendNotFound', message: `port ${port} is not a port of Service ${ns}/${name}` };
    // gRPC needs HTTP/2 to the backend: the waypoint speaks it to grpc and http2 ports only.
    const sp = (svc.spec?.ports ?? []).find((p) => port === undefined || p.port === port);
    const protocol = sp ? portProtocol(sp.name, sp.appProtocol) : 'unknown';
    if (route.kind === 'GRPCRoute' && protocol !== 'grpc' && protocol !== 'http2')
      return {
        ok: false,
        reason: 'UnsupportedProtocol',
        message: `port ${sp?.port ?? '?'} of Service ${ns}/${name} is not grpc or http2 (name grpc-* or appProtocol grpc): the waypoint would speak HTTP/1.1 to it`,
      };
  }
  return { ok: true, reason: 'ResolvedRefs', message: 'All references resolved' };
}

const OURS = new Set([MESH_CONTROLLER, GATEWAY_CONTROLLER]);

function sameRef(a: ParentRef, b: ParentRef): boolean {
  const fields = ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'] as const;
  return fields.every((f) => a[f] === b[f]);
}

type ParentStatus = NonNullable<RouteStatus['parents']>[number];

/** A route's status; `issue` is why it was refused (decode or validation), if it was. */
function routeStatus(
  route: Route,
  issue: Issue | undefined,
  w: World,
  now: string,
): Record<string, unknown> | undefined {
  const gen = route.metadata.generation;
  const invalid = issue ? `${issue.field}: ${issue.reason}` : undefined;
  const refs = resolvedRefs(route, w);
  const previous = route.status ?? {};
  const before: readonly ParentStatus[] = previous.parents ?? [];
  const ours: unknown[] = [];
  for (const parentRef of route.spec.parentRefs ?? []) {
    const accepted = parentAccepted(route, parentRef, w);
    if (!accepted) continue;
    const conditions = [
      invalid
        ? condition('Accepted', false, 'UnsupportedValue', invalid, gen)
        : condition('Accepted', accepted.ok, accepted.reason, accepted.message, gen),
      condition('ResolvedRefs', refs.ok, refs.reason, refs.message, gen),
    ];
    const old = before.find((p) => OURS.has(p.controllerName) && sameRef(p.parentRef, parentRef));
    ours.push({
      parentRef,
      controllerName: accepted.controller,
      conditions: withTransitionTimes(conditions, old?.conditions, now),
    });
  }
  const others = before.filter((p) => !OURS.has(p.controllerName));
  if (ours.length === 0 && others.length === before.length) return undefined;
  return { ...previous, parents: [...others, ...ours] };
}

const PLURAL = { Gateway: 'gateways', HTTPRoute: 'httproutes', GRPCRoute: 'grpcroutes' } as const;

/** The status every waypoint Gateway and every HTTPRoute/GRPCRoute should hold now. */
export function desiredStatuses(objects: readonly KubeObject[], now = new Date().toISOString()): DesiredStatus[] {
  const w = world(objects);
  const out: DesiredStatus[] = [];
  for (const o of objects) {
    if (!o.apiVersion.startsWith(`${GATEWAY_GROUP}/`)) continue;
    let status: Readonly<Record<string, unknown>> | undefined;
    if (o.kind === 'Gateway') {
      const gw = valid(decodeKubeObject(o, gwapi.gatewayBody));
      status = gw && isWaypointGateway(gw) ? gatewayStatus(gw, w, now) : undefined;
    } else if (o.kind === 'HTTPRoute' || o.kind === 'GRPCRoute') {
      status = routeStatusOf(o, o.kind, w, now);
    }
    if (!status) continue;
    const kind = o.kind as keyof typeof PLURAL;
    out.push({
      target: { apiVersion: o.apiVersion, kind, plural: PLURAL[kind], namespace: nsOf(o), name: o.metadata.name },
      object: o,
      status,
    });
  }
  return out;
}

/** Whether two statuses say the same (key order aside). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** A route that does not decode still gets a status: Accepted False with the first issue. */
function routeStatusOf(
  o: KubeObject,
  kind: 'HTTPRoute' | 'GRPCRoute',
  w: World,
  now: string,
): Record<string, unknown> | undefined {
  let route: Route;
  let issue: Issue | undefined;
  if (kind === 'HTTPRoute') {
    const r = decodeKubeObject(o, gwapi.httpRouteBody);
    route = r.value;
    issue = r.issues[0] ?? validateHttpRoute(r.value).list[0];
  } else {
    const r = decodeKubeObject(o, gwapi.grpcRouteBody);
    route = r.value;
    issue = r.issues[0] ?? validateGrpcRoute(r.value).list[0];
  }
  // A spec that did not decode is left out of the value: no parentRefs to answer for.
  return routeStatus(route.spec === undefined ? { ...route, spec: {} } : route, issue, w, now);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const r = v !== null && typeof v === 'object' ? (v as Readonly<Record<string, unknown>>) : undefined;
  if (r)
    return `{${Object.keys(r)
      .filter((k) => r[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(r[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
