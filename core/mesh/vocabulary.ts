// The mesh's vocabulary: the labels, annotations and class names users write on their objects,
// with Istio's aliases, and the few rules read from them (enrolment, canonical names).
// Ambit's own name comes first; when both are set, Ambit's wins.

/** Readonly label maps, as objects carry them. */
export type LabelMap = Readonly<Record<string, string>>;

/** Enrolment: `ambient` captures, `none` opts a pod out (namespace or pod label). */
export const MESH_MODE_LABELS = ['mesh-mode', 'istio.io/dataplane-mode'] as const;
/** The waypoint a namespace, service or pod uses (`none`: no waypoint). */
export const USE_WAYPOINT_LABELS = ['mesh-waypoint', 'istio.io/use-waypoint'] as const;
/** The namespace of the waypoint named by USE_WAYPOINT_LABELS (default: the object's own). */
export const USE_WAYPOINT_NAMESPACE_LABEL = 'istio.io/use-waypoint-namespace';

export const CANONICAL_NAME_LABEL = 'service.istio.io/canonical-name';
export const CANONICAL_REVISION_LABEL = 'service.istio.io/canonical-revision';
/** Istio's label for the owning workload's name (metrics' `*_workload`). */
export const WORKLOAD_NAME_LABEL = 'service.istio.io/workload-name';

/** The Gateway class of Ambit's waypoints; Istio's class is accepted as an alias by the controller. */
export const WAYPOINT_CLASS = 'ambit-waypoint';
export const ISTIO_WAYPOINT_CLASS = 'istio-waypoint';
export const WAYPOINT_CLASSES: readonly string[] = [WAYPOINT_CLASS, ISTIO_WAYPOINT_CLASS];
/** Gateway API's label naming the Gateway an object belongs to (waypoint pods, Deployments). */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

function firstOf(labels: LabelMap | undefined, keys: readonly string[]): string | undefined {
  if (!labels) return undefined;
  for (const key of keys) if (Object.hasOwn(labels, key)) return labels[key];
  return undefined;
}

/** The mesh mode an object's labels ask for (`ambient`, `none`, …), or undefined. */
export function meshModeOf(labels: LabelMap | undefined): string | undefined {
  return firstOf(labels, MESH_MODE_LABELS);
}

/** A namespace (or pod) labelled into the ambient mesh. */
export function isAmbient(labels: LabelMap | undefined): boolean {
  return meshModeOf(labels) === 'ambient';
}

/** A pod labelled out of the mesh (`mesh-mode=none`), whatever its namespace says. */
export function optsOut(labels: LabelMap | undefined): boolean {
  return meshModeOf(labels) === 'none';
}

/** The waypoint name the labels ask for (`none` included), or undefined. */
export function useWaypointOf(labels: LabelMap | undefined): string | undefined {
  return firstOf(labels, USE_WAYPOINT_LABELS);
}

/** Istio's canonical service name: its label, then the usual app labels. */
export function canonicalNameOf(labels: LabelMap): string | undefined {
  return labels[CANONICAL_NAME_LABEL] ?? labels['app.kubernetes.io/name'] ?? labels.app;
}

/** Istio's canonical revision: its label, then the usual version labels. */
export function canonicalRevisionOf(labels: LabelMap): string | undefined {
  return labels[CANONICAL_REVISION_LABEL] ?? labels['app.kubernetes.io/version'] ?? labels.version;
}

/** The parts of an object that say whether it is a waypoint Gateway. */
export interface GatewayLike {
  readonly kind?: string;
  readonly apiVersion?: string;
  readonly spec?: unknown;
}

/** A Gateway API Gateway of one of `classes` (default: Ambit's waypoint class). */
export function isWaypointGateway(obj: GatewayLike, classes: readonly string[] = [WAYPOINT_CLASS]): boolean {
  if (obj.kind !== 'Gateway' || !obj.apiVersion?.startsWith('gateway.networking.k8s.io/')) return false;
  const spec = obj.spec;
  const cls = spec && typeof spec === 'object' ? (spec as { gatewayClassName?: unknown }).gatewayClassName : undefined;
  return typeof cls === 'string' && classes.includes(cls);
}
