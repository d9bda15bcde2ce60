// The Kubernetes kinds the controller watches. Custom resources list every version Ambit
// reads, newest first: the source watches the first one the cluster serves (the API server
// converts every stored object to the requested version, so one served version is enough).

export interface KindSpec {
  /** '' for the core group. */
  readonly group: string;
  /** Versions to try, preferred first. */
  readonly versions: readonly string[];
  readonly plural: string;
  readonly kind: string;
  /** Custom resource: may be absent from the cluster (404 → skipped, retried later). */
  readonly optional: boolean;
  /** Watch one namespace only (default: all namespaces). */
  readonly namespace?: string;
  /** Watch one object by name (a metadata.name field selector, which RBAC resourceNames can grant). */
  readonly name?: string;
}

const core = (plural: string, kind: string): KindSpec => ({
  group: '',
  versions: ['v1'],
  plural,
  kind,
  optional: false,
});
const crd = (group: string, versions: string[], plural: string, kind: string): KindSpec => ({
  group,
  versions,
  plural,
  kind,
  optional: true,
});

const ISTIO_NETWORKING = ['v1', 'v1beta1', 'v1alpha3'];
const ISTIO_SECURITY = ['v1', 'v1beta1'];
const GATEWAY_API = ['v1', 'v1beta1'];

export const WATCHED_KINDS: readonly KindSpec[] = [
  core('namespaces', 'Namespace'),
  core('pods', 'Pod'),
  core('services', 'Service'),
  core('serviceaccounts', 'ServiceAccount'),
  core('nodes', 'Node'),
  { group: 'discovery.k8s.io', versions: ['v1'], plural: 'endpointslices', kind: 'EndpointSlice', optional: false },
  crd('networking.istio.io', ISTIO_NETWORKING, 'virtualservices', 'VirtualService'),
  crd('networking.istio.io', ISTIO_NETWORKING, 'destinationrules', 'DestinationRule'),
  crd('networking.istio.io', ISTIO_NETWORKING, 'serviceentries', 'ServiceEntry'),
  crd('networking.istio.io', ISTIO_NETWORKING, 'gateways', 'Gateway'),
  crd('networking.istio.io', ISTIO_NETWORKING, 'sidecars', 'Sidecar'),
  crd('networking.istio.io', ISTIO_NETWORKING, 'workloadentries', 'WorkloadEntry'),
  crd('networking.istio.io', ISTIO_NETWORKING, 'workloadgroups', 'WorkloadGroup'),
  crd('security.istio.io', ISTIO_SECURITY, 'peerauthentications', 'PeerAuthentication'),
  crd('security.istio.io', ISTIO_SECURITY, 'requestauthentications', 'RequestAuthentication'),
  crd('security.istio.io', ISTIO_SECURITY, 'authorizationpolicies', 'AuthorizationPolicy'),
  // Read to say they are not applied (controller log, analyze): never silently skipped.
  crd('networking.istio.io', ['v1alpha3'], 'envoyfilters', 'EnvoyFilter'),
  crd('networking.istio.io', ['v1beta1'], 'proxyconfigs', 'ProxyConfig'),
  crd('telemetry.istio.io', ['v1', 'v1alpha1'], 'telemetries', 'Telemetry'),
  crd('extensions.istio.io', ['v1alpha1'], 'wasmplugins', 'WasmPlugin'),
  crd('gateway.networking.k8s.io', GATEWAY_API, 'gateways', 'Gateway'),
  crd('gateway.networking.k8s.io', GATEWAY_API, 'httproutes', 'HTTPRoute'),
  crd('gateway.networking.k8s.io', ['v1'], 'grpcroutes', 'GRPCRoute'),
  crd('gateway.networking.k8s.io', ['v1beta1'], 'referencegrants', 'ReferenceGrant'),
];

/** The mesh settings, as Istio keeps them: ConfigMap `istio` (key `mesh`) in the controller's namespace. */
export const MESH_CONFIGMAP_NAME = 'istio';

/**
 * The controller's own mesh ConfigMap. Optional: a cluster without it, or an RBAC that does
 * not grant it, leaves the defaults in force instead of holding up the sync.
 */
export function meshConfigMapKind(namespace: string): KindSpec {
  return {
    group: '',
    versions: ['v1'],
    plural: 'configmaps',
    kind: 'ConfigMap',
    optional: true,
    namespace,
    name: MESH_CONFIGMAP_NAME,
  };
}

/** Every kind the controller in `namespace` watches. */
export function watchedKinds(namespace: string): readonly KindSpec[] {
  return [...WATCHED_KINDS, meshConfigMapKind(namespace)];
}

/**
 * `/api/v1/pods` or `/apis/<group>/<version>/<plural>` (all namespaces), or
 * `/api/v1/namespaces/<ns>/<plural>?fieldSelector=metadata.name%3D<name>`.
 */
export function collectionPath(
  spec: Pick<KindSpec, 'group' | 'plural' | 'namespace' | 'name'>,
  version: string,
): string {
  const base = spec.group ? `/apis/${spec.group}/${version}` : `/api/${version}`;
  const ns = spec.namespace ? `/namespaces/${encodeURIComponent(spec.namespace)}` : '';
  const query = spec.name ? `?fieldSelector=${encodeURIComponent(`metadata.name=${spec.name}`)}` : '';
  return `${base}${ns}/${spec.plural}${query}`;
}

export function apiVersionOf(spec: Pick<KindSpec, 'group'>, version: string): string {
  return spec.group ? `${spec.group}/${version}` : version;
}

/** Human label for logs: `gateways.gateway.networking.k8s.io`. */
export function kindLabel(spec: Pick<KindSpec, 'group' | 'plural'>): string {
  return spec.group ? `${spec.plural}.${spec.group}` : spec.plural;
}
