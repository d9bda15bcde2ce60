// The typed `spec` of each Istio kind Ambit reads, derived from the schemas the chart's CRDs
// are rendered from: what `decode()` returns and what validation and translation read.
import type { TypeOf } from './schema.js';
import type * as ext from './extensions.js';
import type * as net from './networking.js';
import type * as sec from './security.js';

export type VirtualServiceSpec = TypeOf<typeof net.virtualService>;
export type DestinationRuleSpec = TypeOf<typeof net.destinationRule>;
export type ServiceEntrySpec = TypeOf<typeof net.serviceEntry>;
export type GatewaySpec = TypeOf<typeof net.gateway>;
export type SidecarSpec = TypeOf<typeof net.sidecar>;
export type WorkloadEntrySpec = TypeOf<typeof net.workloadEntry>;
export type WorkloadGroupSpec = TypeOf<typeof net.workloadGroup>;
export type PeerAuthenticationSpec = TypeOf<typeof sec.peerAuthentication>;
export type RequestAuthenticationSpec = TypeOf<typeof sec.requestAuthentication>;
export type AuthorizationPolicySpec = TypeOf<typeof sec.authorizationPolicy>;
export type TelemetrySpec = TypeOf<typeof ext.telemetry>;
export type WasmPluginSpec = TypeOf<typeof ext.wasmPlugin>;
export type ProxyConfigSpec = TypeOf<typeof ext.proxyConfig>;
export type EnvoyFilterSpec = TypeOf<typeof ext.envoyFilter>;
