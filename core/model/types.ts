// The mesh model: plain readonly data that the controller's translator produces and that
// agents and waypoints consume (through discovery, or a file in local/test modes).
// L4 types live here; the waypoint's L7 types live in ./l7.ts.
import type { PathNormalization } from '../http/path-normalize.js';
import type { TelemetryPolicy } from '../telemetry/policy.js';

export type Labels = Readonly<Record<string, string>>;

export interface Locality {
  readonly region?: string;
  readonly zone?: string;
  readonly subzone?: string;
}

/** Application protocol of a service port, from `appProtocol` or the port name prefix. */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'tls' | 'https' | 'mongo' | 'unknown';

export interface Workload {
  /** Stable key: `Pod/<ns>/<name>` or `WorkloadEntry/<ns>/<name>`. */
  readonly uid: string;
  readonly kind: 'Pod' | 'WorkloadEntry';
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** SPIFFE id: spiffe://<td>/ns/<ns>/sa/<sa>. */
  readonly identity: string;
  readonly ips: readonly string[];
  /** The node whose agent serves it; absent for a pod not yet scheduled (kube mode). */
  readonly node?: string;
  readonly labels: Labels;
  readonly locality?: Locality;
  /** True when the workload is captured by the mesh (speaks HBONE on 15008). */
  readonly enrolled: boolean;
  /** Waypoint that serves traffic addressed to this workload's services, if any. */
  readonly waypoint?: WaypointRef;
  /**
   * The owning workload's name (Deployment, StatefulSet, CronJob…, or the pod itself), as Istio
   * derives it for the `*_workload` metric labels.
   */
  readonly workloadName?: string;
  /** Name of the owning app/version for telemetry (`app`, `version` labels). */
  readonly canonicalName?: string;
  readonly canonicalRevision?: string;
  readonly healthy?: boolean;
}

export interface WaypointRef {
  /** Gateway name (namespace label `mesh-waypoint=<name>`). */
  readonly name: string;
  readonly namespace: string;
  /** Address the agent dials over HBONE (the waypoint's workload IP or service VIP). */
  readonly address: string;
  readonly identity: string;
}

export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  /** Port on the endpoint; for a named targetPort the translator resolves it per workload. */
  readonly targetPort: number;
  readonly protocol: PortProtocol;
}

export interface Endpoint {
  readonly workloadUid?: string;
  readonly address: string;
  /** service port → endpoint port, when it differs from ServicePort.targetPort. */
  readonly ports?: Readonly<Record<number, number>>;
  readonly labels?: Labels;
  readonly locality?: Locality;
  readonly weight?: number;
}

export interface Service {
  /** Stable key: `<ns>/<hostname>`. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  /** FQDN, e.g. payment-service.coffee-shop.svc.cluster.local, or a ServiceEntry host. */
  readonly hostname: string;
  readonly vips: readonly string[];
  readonly ports: readonly ServicePort[];
  readonly endpoints: readonly Endpoint[];
  readonly waypoint?: WaypointRef;
  /** From a ServiceEntry: MESH_EXTERNAL hosts are not mTLS'd by the agent. */
  readonly external?: boolean;
  readonly resolution?: 'STATIC' | 'DNS' | 'NONE';
  /** Namespaces that may see this service; ['*'] = all (Istio `exportTo`). */
  readonly exportTo?: readonly string[];
}

export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** Where a policy applies: mesh-wide (root namespace), a namespace, or selected workloads. */
export interface PolicyScope {
  readonly namespace: string;
  readonly level: 'mesh' | 'namespace' | 'workload';
  /** For level 'workload': matchLabels of the selector. */
  readonly selector?: Labels;
  /** Istio `targetRef(s)`: the policy binds to these (a waypoint Gateway or a Service), enforced by the waypoint, not the agent. */
  readonly targetRefs?: readonly { readonly kind: string; readonly name: string; readonly namespace?: string }[];
}

export interface AuthzSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
}

export interface AuthzOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthzRule {
  readonly from?: readonly AuthzSource[];
  readonly to?: readonly AuthzOperation[];
  readonly when?: readonly AuthzCondition[];
}

export interface AuthorizationPolicy {
  /** `<ns>/<name>` */
  readonly key: string;
  readonly name: string;
  readonly scope: PolicyScope;
  readonly action: PolicyAction;
  /** CUSTOM: the ext-authz provider name from mesh config. */
  readonly provider?: string;
  /** Istio semantics: no `rules` field = matches nothing for ALLOW... see core/authz. */
  readonly rules: readonly AuthzRule[];
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET';

export interface PeerAuthentication {
  readonly key: string;
  readonly name: string;
  readonly scope: PolicyScope;
  readonly mode: MtlsMode;
  /** port number → mode (only meaningful with a workload selector). */
  readonly portLevel?: Readonly<Record<number, MtlsMode>>;
}

export interface MeshConfig {
  readonly trustDomain: string;
  /** Namespace whose policies apply mesh-wide (Istio: istio-system). */
  readonly rootNamespace: string;
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** Percentage 0..100. */
  readonly traceSampling: number;
  /** Istio `extensionProviders` (ext-authz over HTTP), named by CUSTOM AuthorizationPolicies. */
  readonly extensionProviders?: readonly ExtensionProvider[];
  /** Istio `pathNormalization.normalization`: how the waypoint normalises request paths (default BASE). */
  readonly pathNormalization?: PathNormalization;
  /** Ambit: let RequestAuthentication jwksUri use plain http (https only when absent or false). */
  readonly jwksAllowHttp?: boolean;
  /**
   * Istio `ISTIO_META_DNS_CAPTURE`: the agent's DNS proxy answers mesh names (default true, as
   * in ambient since Istio 1.25); false = it forwards every query unchanged.
   */
  readonly dnsCapture?: boolean;
  /** Istio `ISTIO_META_DNS_AUTO_ALLOCATE`: ServiceEntry hosts without addresses get a VIP (default true). */
  readonly dnsAutoAllocate?: boolean;
  /** Telemetry API resources (telemetry.istio.io), resolved per reporter by core/telemetry/policy.ts. */
  readonly telemetry?: readonly TelemetryPolicy[];
}

/** Istio MeshConfig `extensionProviders[].envoyExtAuthzHttp`; durations in ms. */
export interface ExtAuthzHttpProvider {
  /** Host name or address of the authorization service (`ns/host` accepted, the namespace is dropped). */
  readonly service: string;
  readonly port: number;
  readonly pathPrefix?: string;
  readonly timeoutMs?: number;
  readonly failOpen?: boolean;
  readonly statusOnError?: number;
  readonly includeRequestHeadersInCheck?: readonly string[];
  readonly includeAdditionalHeadersInCheck?: Readonly<Record<string, string>>;
  readonly headersToUpstreamOnAllow?: readonly string[];
  readonly headersToDownstreamOnDeny?: readonly string[];
}

export interface ExtensionProvider {
  readonly name: string;
  readonly envoyExtAuthzHttp?: ExtAuthzHttpProvider;
  /** Why Ambit cannot call this provider (e.g. envoyExtAuthzGrpc): CUSTOM policies naming it deny, saying so. */
  readonly unsupported?: string;
}

/** Everything an agent needs: the L4 view of the mesh. */
export interface MeshSnapshot {
  readonly version: string;
  readonly mesh: MeshConfig;
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  /** Sidecar egress scoping; absent/empty = every workload sees every exported service. */
  readonly sidecarScopes?: readonly SidecarScope[];
  /**
   * The cluster's namespaces and their labels: an agent decides a new pod's enrolment from
   * them, and refuses (retry) a pod of a namespace it does not know yet.
   */
  readonly namespaces?: readonly NamespaceInfo[];
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Labels;
}

/** Istio Sidecar `egress[].hosts`, resolved: which services the scoped workloads may see. */
export interface SidecarScope {
  /** `<ns>/<name>` */
  readonly key: string;
  readonly scope: PolicyScope;
  // The `ns/host` patterns as written, e.g. `./*`, `istio-system/*`, `*/foo.example.com`.
  readonly egressHosts: readonly string[];
  /** Service keys (`<ns>/<hostname>`) those patterns select in this snapshot. */
  readonly visibleServices: readonly string[];
  readonly outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

export const DEFAULT_MESH_CONFIG: MeshConfig = {
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  outboundTrafficPolicy: 'ALLOW_ANY',
  traceSampling: 1,
};
