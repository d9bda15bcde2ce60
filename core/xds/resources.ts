// Resource types of mesh discovery and how the mesh model maps onto them: each type is a
// set of named JSON resources. The controller splits a snapshot into resources; an agent
// checks each one it receives (a malformed resource is NACKed, its previous version kept)
// and assembles the snapshot back.
import { createHash } from 'node:crypto';
import type {
  AuthorizationPolicy,
  MeshConfig,
  MeshSnapshot,
  NamespaceInfo,
  PeerAuthentication,
  Service,
  SidecarScope,
  Workload,
} from '../model/types.js';
import type { GatewayConfig, WaypointConfig } from '../model/l7.js';
import { decodeWaypointConfig } from '../model/decode-waypoint-config.js';
import {
  ModelError,
  decodeAuthorizationPolicy,
  decodeMeshConfig,
  decodeNamespace,
  decodePeerAuthentication,
  decodeService,
  decodeSidecarScope,
  decodeWorkload,
} from '../model/decode-mesh.js';

export const TYPE_WORKLOAD = 'ambit.mesh/Workload';
export const TYPE_SERVICE = 'ambit.mesh/Service';
export const TYPE_AUTHORIZATION_POLICY = 'ambit.mesh/AuthorizationPolicy';
export const TYPE_PEER_AUTHENTICATION = 'ambit.mesh/PeerAuthentication';
export const TYPE_SIDECAR_SCOPE = 'ambit.mesh/SidecarScope';
/** Namespaces and their labels, named by namespace (agents decide enrolment from them). */
export const TYPE_NAMESPACE = 'ambit.mesh/Namespace';
export const TYPE_MESH_CONFIG = 'ambit.mesh/MeshConfig';
export const TYPE_WAYPOINT_CONFIG = 'ambit.mesh/WaypointConfig';
/** Istio ingress/egress gateways, named `<ns>/<name>`: sent to waypoints of that namespace. */
export const TYPE_GATEWAY_CONFIG = 'ambit.mesh/GatewayConfig';

/** What an agent subscribes to (everything that makes a MeshSnapshot). */
export const AGENT_TYPES = [
  TYPE_MESH_CONFIG,
  TYPE_WORKLOAD,
  TYPE_SERVICE,
  TYPE_AUTHORIZATION_POLICY,
  TYPE_PEER_AUTHENTICATION,
  TYPE_SIDECAR_SCOPE,
  TYPE_NAMESPACE,
] as const;

/** The single MeshConfig resource's name. */
export const MESH_CONFIG_NAME = 'mesh';

/** Resources of one type: name → JSON-able value. */
export type ResourceMap = ReadonlyMap<string, unknown>;

/** Content version of a resource: a short hash of its JSON. */
export function resourceVersion(body: string): string {
  return createHash('sha256').update(body).digest('base64url').slice(0, 16);
}

/** Splits a snapshot into the agent resource types. */
export function snapshotResources(s: MeshSnapshot): Map<string, ResourceMap> {
  return new Map<string, ResourceMap>([
    [TYPE_MESH_CONFIG, new Map([[MESH_CONFIG_NAME, s.mesh]])],
    [TYPE_WORKLOAD, new Map(s.workloads.map((w) => [w.uid, w]))],
    [TYPE_SERVICE, new Map(s.services.map((v) => [v.key, v]))],
    [TYPE_AUTHORIZATION_POLICY, new Map(s.authorizationPolicies.map((p) => [p.key, p]))],
    [TYPE_PEER_AUTHENTICATION, new Map(s.peerAuthentications.map((p) => [p.key, p]))],
    [TYPE_SIDECAR_SCOPE, new Map((s.sidecarScopes ?? []).map((p) => [p.key, p]))],
    [TYPE_NAMESPACE, new Map((s.namespaces ?? []).map((n) => [n.name, n]))],
  ]);
}

/** Assembles a snapshot from accepted resources (sorted by name for stable output). */
export function assembleSnapshot(version: string, byType: ReadonlyMap<string, ResourceMap>): MeshSnapshot | undefined {
  const mesh = byType.get(TYPE_MESH_CONFIG)?.get(MESH_CONFIG_NAME) as MeshConfig | undefined;
  if (!mesh) return undefined;
  const values = <T>(type: string): T[] =>
    [...(byType.get(type) ?? new Map<string, unknown>()).entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v as T);
  const sidecarScopes = values<SidecarScope>(TYPE_SIDECAR_SCOPE);
  const namespaces = values<NamespaceInfo>(TYPE_NAMESPACE);
  return {
    version,
    mesh,
    workloads: values<Workload>(TYPE_WORKLOAD),
    services: values<Service>(TYPE_SERVICE),
    authorizationPolicies: values<AuthorizationPolicy>(TYPE_AUTHORIZATION_POLICY),
    peerAuthentications: values<PeerAuthentication>(TYPE_PEER_AUTHENTICATION),
    ...(sidecarScopes.length ? { sidecarScopes } : {}),
    ...(namespaces.length ? { namespaces } : {}),
  };
}

// ---- checks on receipt: the model's decoders (core/model/decode-mesh.ts), shared with the
// agent's snapshot file, so both paths accept the same values ----

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The GatewayConfig's outline (its servers and routes are checked where they are built). */
function decodeGatewayConfig(v: unknown): GatewayConfig {
  const o = v as Record<string, unknown>;
  for (const field of ['key', 'namespace'])
    if (typeof o[field] !== 'string' || o[field] === '') throw new ModelError(field, 'expected a non-empty string');
  for (const field of ['servers', 'virtualHosts', 'clusters'])
    if (!Array.isArray(o[field])) throw new ModelError(field, 'expected a list');
  return v as GatewayConfig;
}

const DECODERS: Record<string, (v: unknown) => unknown> = {
  [TYPE_MESH_CONFIG]: (v) => decodeMeshConfig(v),
  [TYPE_WORKLOAD]: (v) => decodeWorkload(v),
  [TYPE_SERVICE]: (v) => decodeService(v),
  [TYPE_AUTHORIZATION_POLICY]: (v) => decodeAuthorizationPolicy(v),
  [TYPE_PEER_AUTHENTICATION]: (v) => decodePeerAuthentication(v),
  [TYPE_SIDECAR_SCOPE]: (v) => decodeSidecarScope(v),
  [TYPE_NAMESPACE]: (v) => decodeNamespace(v),
  [TYPE_GATEWAY_CONFIG]: decodeGatewayConfig,
  // the same check as the waypoint's config file
  [TYPE_WAYPOINT_CONFIG]: decodeWaypointConfig,
};

/**
 * Parses and checks one received resource. Returns the value, or throws an Error whose
 * message names the field (the message goes back to the controller in the NACK).
 */
export function decodeResource(type: string, name: string, body: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new Error(`${name}: body is not JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isObj(value)) throw new Error(`${name}: body must be a JSON object`);
  try {
    return DECODERS[type]?.(value) ?? value;
  } catch (err) {
    // `<resource name>: field <path>: <reason>`: the message goes back in the NACK
    if (err instanceof ModelError) throw new Error(`${name}: field ${err.message}`, { cause: err });
    throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
  }
}

export type { GatewayConfig, WaypointConfig };
