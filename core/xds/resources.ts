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

// ---- checks on receipt: enough to be sure the consumer will not trip over the shape ----

type Check = (v: Record<string, unknown>) => string | undefined;

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isStrArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isArray = (v: unknown): boolean => Array.isArray(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fields(spec: Record<string, (v: unknown) => boolean>, what: Record<string, string>): Check {
  return (v) => {
    for (const [field, ok] of Object.entries(spec))
      if (!ok(v[field])) return `field ${field}: ${what[field] ?? 'invalid'}`;
    return undefined;
  };
}

const scopeOk = (v: unknown): boolean =>
  isObj(v) && typeof v.namespace === 'string' && ['mesh', 'namespace', 'workload'].includes(String(v.level));

const CHECKS: Record<string, Check> = {
  [TYPE_MESH_CONFIG]: fields(
    { trustDomain: isStr, rootNamespace: isStr },
    { trustDomain: 'must be a non-empty string', rootNamespace: 'must be a non-empty string' },
  ),
  [TYPE_WORKLOAD]: fields(
    { uid: isStr, name: isStr, namespace: isStr, identity: isStr, ips: isStrArray, labels: isObj },
    { ips: 'must be an array of IP strings', labels: 'must be an object', identity: 'must be a SPIFFE id' },
  ),
  [TYPE_SERVICE]: fields(
    { key: isStr, hostname: isStr, vips: isStrArray, ports: isArray, endpoints: isArray },
    { vips: 'must be an array of IP strings', ports: 'must be an array', endpoints: 'must be an array' },
  ),
  [TYPE_AUTHORIZATION_POLICY]: fields(
    {
      key: isStr,
      scope: scopeOk,
      action: (a) => ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'].includes(String(a)),
      rules: isArray,
    },
    { scope: 'must be {namespace, level}', action: 'must be ALLOW, DENY, AUDIT or CUSTOM', rules: 'must be an array' },
  ),
  [TYPE_PEER_AUTHENTICATION]: fields(
    { key: isStr, scope: scopeOk, mode: (m) => ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'].includes(String(m)) },
    { scope: 'must be {namespace, level}', mode: 'must be STRICT, PERMISSIVE, DISABLE or UNSET' },
  ),
  [TYPE_SIDECAR_SCOPE]: fields(
    { key: isStr, scope: scopeOk, visibleServices: isStrArray },
    { visibleServices: 'must be an array of strings' },
  ),
  [TYPE_NAMESPACE]: fields(
    { name: isStr, labels: (v) => isObj(v) && Object.values(v).every((x) => typeof x === 'string') },
    { name: 'must be a non-empty string', labels: 'must be an object of strings' },
  ),
  [TYPE_GATEWAY_CONFIG]: fields(
    { key: isStr, namespace: isStr, servers: isArray, virtualHosts: isArray, clusters: isArray },
    { servers: 'must be an array', virtualHosts: 'must be an array', clusters: 'must be an array' },
  ),
  // the same check as the waypoint's config file
  [TYPE_WAYPOINT_CONFIG]: (v) => {
    try {
      decodeWaypointConfig(v);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  },
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
  const problem = CHECKS[type]?.(value);
  if (problem) throw new Error(`${name}: ${problem}`);
  return value;
}

export type { GatewayConfig, WaypointConfig };
