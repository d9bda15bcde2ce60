// The waypoint's L7 model: what the controller translates from VirtualService,
// DestinationRule, ServiceEntry and the security CRDs for one namespace's waypoint (and, in
// the same shapes, for an ingress/egress gateway). Plain readonly JSON-able data: it travels
// over gRPC as JSON. Durations are milliseconds, percentages are 0..100 (fractions allowed).
import type {
  AuthorizationPolicy,
  Labels,
  Locality,
  MeshConfig,
  PeerAuthentication,
  PolicyScope,
  PortProtocol,
} from './types.js';

/** Istio StringMatch: exactly one of exact / prefix / regex (RE2 syntax, full match). */
export interface StringMatch {
  readonly type: 'exact' | 'prefix' | 'regex';
  readonly value: string;
}

/** One `match[]` block: every present condition must hold (AND). */
export interface HttpMatch {
  readonly name?: string;
  readonly uri?: StringMatch;
  readonly scheme?: StringMatch;
  readonly method?: StringMatch;
  readonly authority?: StringMatch;
  /** Header names lower-cased. */
  readonly headers?: Readonly<Record<string, StringMatch>>;
  /** Headers that must NOT match (Istio `withoutHeaders`). */
  readonly withoutHeaders?: Readonly<Record<string, StringMatch>>;
  readonly queryParams?: Readonly<Record<string, StringMatch>>;
  readonly ignoreUriCase?: boolean;
  /** Labels the calling workload must carry. */
  readonly sourceLabels?: Labels;
  readonly sourceNamespace?: string;
  /** Service port the request arrived on. */
  readonly port?: number;
}

export interface HeaderOperations {
  readonly set?: Readonly<Record<string, string>>;
  readonly add?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

export interface HeaderEdits {
  readonly request?: HeaderOperations;
  readonly response?: HeaderOperations;
}

/** Cluster names follow Envoy/Istio: `outbound|<port>|<subset>|<host>` (empty subset allowed). */
export function clusterName(host: string, port: number, subset?: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

export interface RouteDestination {
  /** FQDN of the destination service (short names are resolved by the translator). */
  readonly host: string;
  readonly subset?: string;
  /** Service port; the translator fills it in when the service has a single port. */
  readonly port: number;
  /** 0..100; a single destination has 100. */
  readonly weight: number;
  /** Key into WaypointConfig.clusters. */
  readonly cluster: string;
  readonly headers?: HeaderEdits;
}

export interface HttpRedirect {
  readonly uri?: string;
  readonly authority?: string;
  readonly scheme?: string;
  readonly port?: number;
  /** 301 unless configured. */
  readonly code: number;
}

export interface HttpRewrite {
  /** Replaces the matched prefix (or the whole path for exact/regex matches). */
  readonly uri?: string;
  readonly authority?: string;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  /** Envoy retry conditions (5xx, gateway-error, connect-failure, reset, retriable-4xx, …)
   *  and bare status codes as strings ("503"). */
  readonly retryOn: readonly string[];
  readonly retryRemoteLocalities?: boolean;
}

export interface FaultInjection {
  readonly abort?: { readonly httpStatus: number; readonly percentage: number };
  readonly delay?: { readonly fixedDelayMs: number; readonly percentage: number };
}

/**
 * Istio CorsPolicy of an HTTP route, answered at the proxy as Envoy's CORS filter does:
 * preflights from an allowed origin get a local 200, other requests get the response headers.
 */
export interface CorsPolicy {
  /** Origins allowed (`allowOrigins`). */
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods?: readonly string[];
  readonly allowHeaders?: readonly string[];
  readonly exposeHeaders?: readonly string[];
  readonly maxAgeSeconds?: number;
  readonly allowCredentials?: boolean;
  /** Preflights from an origin not allowed: FORWARD (the default) to the upstream, or IGNORE (200, no CORS headers). */
  readonly unmatchedPreflights?: 'FORWARD' | 'IGNORE';
}

/** One `match[]` block of a VirtualService `tcp[]` or `tls[]` route: every present condition must hold. */
export interface L4Match {
  /** Service port the connection arrived on. */
  readonly port?: number;
  /** Original destination IPs or CIDRs (Istio `destinationSubnets`). */
  readonly destinationSubnets?: readonly string[];
  readonly sourceLabels?: Labels;
  readonly sourceNamespace?: string;
  /** `tls` routes: server names (SNI), lower-cased, `*.suffix` wildcards and `*` allowed. */
  readonly sniHosts?: readonly string[];
}

/** A VirtualService `tcp[]` or `tls[]` route: each connection goes whole to one weighted destination. */
export interface L4Route {
  /** `<vs namespace>/<vs name>` */
  readonly source: string;
  readonly name: string;
  /** Empty = every connection. Several = OR. */
  readonly matches: readonly L4Match[];
  readonly destinations: readonly RouteDestination[];
}

export interface HttpRoute {
  /** `<vs namespace>/<vs name>` or `default` for the implicit route to the service. */
  readonly source: string;
  readonly name?: string;
  /** Empty = match everything. Several = OR. */
  readonly matches: readonly HttpMatch[];
  /** Exactly one of destinations / redirect / directResponse is present. */
  readonly destinations?: readonly RouteDestination[];
  readonly redirect?: HttpRedirect;
  /** Answer without an upstream (Istio `directResponse`). */
  readonly directResponse?: { readonly status: number; readonly body?: string };
  readonly rewrite?: HttpRewrite;
  readonly mirror?: {
    readonly host: string;
    readonly subset?: string;
    readonly port: number;
    readonly cluster: string;
  };
  /** 0..100; absent with a mirror = 100. */
  readonly mirrorPercentage?: number;
  readonly headers?: HeaderEdits;
  /** Route timeout; absent = none (Istio default: disabled). */
  readonly timeoutMs?: number;
  readonly retries?: RetryPolicy;
  readonly fault?: FaultInjection;
  readonly corsPolicy?: CorsPolicy;
}

/** The routes for one service host+port, evaluated in order: first match wins. */
export interface VirtualHost {
  /** `<host>:<port>` */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly protocol: PortProtocol;
  /** Every `:authority` that selects this virtual host: host, short names, VIPs, with port. */
  readonly domains: readonly string[];
  readonly vips: readonly string[];
  /** Mesh Service key (`<ns>/<hostname>`) when this is a known service. */
  readonly serviceKey?: string;
  readonly routes: readonly HttpRoute[];
  /** VirtualService `tcp` routes for this port, first match wins (a TCP port without them uses `routes`' default). */
  readonly tcpRoutes?: readonly L4Route[];
  /** VirtualService `tls` routes for this port, matched on the ClientHello's SNI without terminating TLS. */
  readonly tlsRoutes?: readonly L4Route[];
}

export type LoadBalancerSimple =
  'UNSPECIFIED' | 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH';

export interface ConsistentHash {
  readonly httpHeaderName?: string;
  readonly httpCookie?: { readonly name: string; readonly path?: string; readonly ttlMs?: number };
  readonly useSourceIp?: boolean;
  readonly httpQueryParameterName?: string;
  readonly minimumRingSize?: number;
}

export interface LocalityLbSetting {
  readonly enabled?: boolean;
  /** `region/zone/subzone` strings with `*` wildcards as in Istio. */
  readonly distribute?: readonly { readonly from: string; readonly to: Readonly<Record<string, number>> }[];
  readonly failover?: readonly { readonly from: string; readonly to: string }[];
  readonly failoverPriority?: readonly string[];
}

export interface LoadBalancerSettings {
  readonly simple?: LoadBalancerSimple;
  readonly consistentHash?: ConsistentHash;
  readonly localityLbSetting?: LocalityLbSetting;
  readonly warmupDurationMs?: number;
}

export interface ConnectionPoolSettings {
  readonly tcp?: {
    readonly maxConnections?: number;
    readonly connectTimeoutMs?: number;
    readonly maxConnectionDurationMs?: number;
  };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeoutMs?: number;
    readonly maxConcurrentStreams?: number;
  };
}

export interface OutlierDetection {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutiveLocalOriginFailures?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
  readonly splitExternalLocalOriginErrors?: boolean;
}

export type ClientTlsMode = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';

export interface ClientTlsSettings {
  readonly mode: ClientTlsMode;
  readonly clientCertificate?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
  readonly credentialName?: string;
  readonly subjectAltNames?: readonly string[];
  readonly sni?: string;
  readonly insecureSkipVerify?: boolean;
}

/** Effective policy of one cluster: DR level, then port level, then subset (Istio precedence). */
export interface TrafficPolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTlsSettings;
}

export interface ClusterEndpoint {
  readonly address: string;
  /** Port to dial on the endpoint (target port resolved). */
  readonly port: number;
  readonly workloadUid?: string;
  readonly identity?: string;
  readonly labels: Labels;
  readonly locality?: Locality;
  readonly weight?: number;
  /** True when the endpoint speaks HBONE (enrolled workload). */
  readonly hbone?: boolean;
}

export interface Cluster {
  /** `outbound|<port>|<subset>|<host>` */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly subset?: string;
  readonly protocol: PortProtocol;
  readonly serviceKey?: string;
  /** ServiceEntry MESH_EXTERNAL. */
  readonly external?: boolean;
  /** DNS: resolve `endpoints[].address` (or the host) at connect time. */
  readonly resolution?: 'STATIC' | 'DNS' | 'NONE';
  readonly endpoints: readonly ClusterEndpoint[];
  readonly trafficPolicy: TrafficPolicy;
  /** DestinationRule that produced the policy (`<ns>/<name>`). */
  readonly destinationRule?: string;
}

export interface JwtHeaderLocation {
  readonly name: string;
  readonly prefix?: string;
}

export interface JwtRule {
  readonly issuer: string;
  readonly audiences?: readonly string[];
  readonly jwksUri?: string;
  /** Inline JWKS document (JSON text). */
  readonly jwks?: string;
  /** Default when absent: `Authorization: Bearer <token>`. */
  readonly fromHeaders?: readonly JwtHeaderLocation[];
  readonly fromParams?: readonly string[];
  readonly fromCookies?: readonly string[];
  readonly forwardOriginalToken?: boolean;
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders?: readonly { readonly header: string; readonly claim: string }[];
}

export interface RequestAuthentication {
  /** `<ns>/<name>` */
  readonly key: string;
  readonly name: string;
  readonly scope: PolicyScope;
  readonly jwtRules: readonly JwtRule[];
}

/** Everything one namespace's waypoint needs. */
export interface WaypointConfig {
  readonly namespace: string;
  /** The waypoint Gateway's name. */
  readonly waypoint: string;
  readonly version: string;
  readonly mesh: MeshConfig;
  /** Sorted by name; the waypoint picks one by `:authority` (VIP:port or host:port). */
  readonly virtualHosts: readonly VirtualHost[];
  /** Every cluster a route or mirror of this config can reach, sorted by name. */
  readonly clusters: readonly Cluster[];
  /** Mesh-level (root namespace) and this namespace's policies. */
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly requestAuthentications: readonly RequestAuthentication[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  /** WasmPlugins (extensions.istio.io) that apply to this waypoint; absent: none. */
  readonly wasmPlugins?: readonly WasmPluginConfig[];
}

/** Where a WasmPlugin runs relative to the waypoint's own filters (Istio's PluginPhase). */
export type WasmPluginPhase = 'AUTHN' | 'AUTHZ' | 'STATS' | 'UNSPECIFIED_PHASE';

/** One WasmPlugin as the waypoint loads it (a proxy-wasm HTTP filter). */
export interface WasmPluginConfig {
  /** `<ns>/<name>` */
  readonly key: string;
  /** file:///path, or an http(s) URL the waypoint fetches. */
  readonly url: string;
  /** Lower-case hex; the module is refused when its digest differs. */
  readonly sha256?: string;
  readonly phase: WasmPluginPhase;
  /** Higher runs first within a phase. */
  readonly priority: number;
  /** `pluginConfig`, handed to the plugin as JSON (proxy_on_configure). */
  readonly pluginConfig?: unknown;
  readonly failStrategy: 'FAIL_CLOSE' | 'FAIL_OPEN';
  /** Service keys (`ns/hostname`) from targetRefs of kind Service; absent: every service of the waypoint. */
  readonly services?: readonly string[];
  /** Sandbox limits; defaults in waypoint/filters/wasm. */
  readonly maxMemoryPages?: number;
  readonly callTimeoutMs?: number;
}

export type ServerTlsMode =
  'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';

export interface GatewayServer {
  readonly port: number;
  readonly name?: string;
  readonly protocol: 'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC' | 'TLS' | 'TCP' | 'MONGO';
  readonly hosts: readonly string[];
  readonly tls?: {
    readonly mode: ServerTlsMode;
    readonly credentialName?: string;
    readonly serverCertificate?: string;
    readonly privateKey?: string;
    readonly caCertificates?: string;
    readonly httpsRedirect?: boolean;
  };
}

/** An ingress/egress gateway (networking.istio.io Gateway) and the VirtualServices bound to it. */
export interface GatewayConfig {
  /** `<ns>/<name>` */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly selector: Labels;
  readonly servers: readonly GatewayServer[];
  /** Per server port: virtual hosts named `<host>:<port>`; no bound route → 404. */
  readonly virtualHosts: readonly VirtualHost[];
  readonly clusters: readonly Cluster[];
}
