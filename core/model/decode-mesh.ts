// The one check of each mesh model type received from outside the process: the agent's
// snapshot file (after its defaults are filled in) and the discovery stream both go through
// these decoders, so a value one path accepts the other accepts too. Each decoder checks
// what a consumer relies on (IPs, ports, actions, scopes), keeps fields it does not know
// (newer controllers add optional ones), and throws a ModelError naming the field path.
import net from 'node:net';
import type {
  AuthorizationPolicy,
  MeshConfig,
  MtlsMode,
  NamespaceInfo,
  PeerAuthentication,
  PolicyAction,
  PolicyScope,
  Service,
  SidecarScope,
  Workload,
} from './types.js';

/**
 * Every value of `T`, listed: `all<T>()([...])` does not compile when the list misses one, so a
 * value added to the model's type is added here too (or the build says so).
 */
const all =
  <T extends string>() =>
  <L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : never)): readonly T[] =>
    list;

const LEVELS = all<PolicyScope['level']>()(['mesh', 'namespace', 'workload'] as const);
const OUTBOUND = all<MeshConfig['outboundTrafficPolicy']>()(['ALLOW_ANY', 'REGISTRY_ONLY'] as const);
const KINDS = all<Workload['kind']>()(['Pod', 'WorkloadEntry'] as const);
const RESOLUTIONS = all<NonNullable<Service['resolution']>>()(['STATIC', 'DNS', 'NONE'] as const);
const ACTIONS = all<PolicyAction>()(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const);
const MODES = all<MtlsMode>()(['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'] as const);

/** A model value that does not have the shape its consumers rely on. */
export class ModelError extends Error {
  constructor(
    /** Dotted path of the field at fault, e.g. `workloads[0].ips[1]` (empty: the value itself). */
    readonly field: string,
    readonly reason: string,
  ) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'ModelError';
  }
}

type Json = Record<string, unknown>;

const at = (base: string, key: string | number): string =>
  typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key;

function bad(field: string, reason: string): never {
  throw new ModelError(field, reason);
}

function obj(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'expected an object');
  return v as Json;
}

function list(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) bad(field, 'expected a list');
  return v;
}

function str(o: Json, key: string, base: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') bad(at(base, key), 'expected a non-empty string');
  return v;
}

function optional(o: Json, key: string, base: string, ok: (v: unknown) => boolean, what: string): void {
  if (o[key] !== undefined && !ok(o[key])) bad(at(base, key), what);
}

function oneOf<T extends string>(o: Json, key: string, base: string, allowed: readonly T[]): T {
  const v = o[key];
  if (!allowed.includes(v as T)) bad(at(base, key), `expected ${allowed.join(', ')}`);
  return v as T;
}

function strings(v: unknown, field: string): string[] {
  return list(v, field).map((s, i) => {
    if (typeof s !== 'string') bad(at(field, i), 'expected a string');
    return s;
  });
}

function stringMap(v: unknown, field: string): void {
  for (const [k, s] of Object.entries(obj(v, field))) if (typeof s !== 'string') bad(at(field, k), 'expected a string');
}

function port(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535)
    bad(field, `not a port number: ${JSON.stringify(v)}`);
}

const isIp = (v: unknown): boolean => typeof v === 'string' && net.isIP(v) !== 0;

function isIpOrCidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const [ip, bits, extra] = v.split('/');
  if (extra !== undefined || !isIp(ip)) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (net.isIPv4(ip!) ? 32 : 128);
}

/** A DNS name as ServiceEntry hosts and WorkloadEntry addresses carry them. */
const isHostname = (v: unknown): boolean =>
  typeof v === 'string' &&
  /^(?=.{1,253}$)[a-z0-9_*]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i.test(v);

function addresses(v: unknown, field: string, ok: (a: unknown) => boolean, what: string): void {
  list(v, field).forEach((a, i) => {
    if (!ok(a)) bad(at(field, i), `not ${what}: ${JSON.stringify(a)}`);
  });
}

function scope(v: unknown, field: string): PolicyScope {
  const o = obj(v, field);
  if (typeof o.namespace !== 'string') bad(at(field, 'namespace'), 'expected a string');
  oneOf(o, 'level', field, LEVELS);
  optional(o, 'selector', field, (s) => typeof s === 'object' && s !== null && !Array.isArray(s), 'expected an object');
  if (o.selector !== undefined) stringMap(o.selector, at(field, 'selector'));
  optional(o, 'targetRefs', field, Array.isArray, 'expected a list');
  return o as unknown as PolicyScope;
}

export function decodeMeshConfig(v: unknown, field = ''): MeshConfig {
  const o = obj(v, field);
  str(o, 'trustDomain', field);
  str(o, 'rootNamespace', field);
  oneOf(o, 'outboundTrafficPolicy', field, OUTBOUND);
  const sampling = o.traceSampling;
  if (typeof sampling !== 'number' || !(sampling >= 0 && sampling <= 100))
    bad(at(field, 'traceSampling'), 'expected a percentage from 0 to 100');
  optional(o, 'extensionProviders', field, Array.isArray, 'expected a list');
  return o as unknown as MeshConfig;
}

export function decodeWorkload(v: unknown, field = ''): Workload {
  const o = obj(v, field);
  str(o, 'name', field);
  str(o, 'namespace', field);
  str(o, 'uid', field);
  const kind = oneOf(o, 'kind', field, KINDS);
  str(o, 'serviceAccount', field);
  str(o, 'identity', field);
  // A WorkloadEntry's address may be a DNS name (Istio allows it); a pod's are IPs.
  if (kind === 'WorkloadEntry')
    addresses(o.ips, at(field, 'ips'), (a) => isIp(a) || isHostname(a), 'an IP address or host name');
  else addresses(o.ips, at(field, 'ips'), isIp, 'an IP address');
  optional(o, 'node', field, (n) => typeof n === 'string', 'expected a string');
  stringMap(o.labels, at(field, 'labels'));
  if (typeof o.enrolled !== 'boolean') bad(at(field, 'enrolled'), 'expected true or false');
  optional(o, 'waypoint', field, (w) => typeof w === 'object' && w !== null, 'expected an object');
  return o as unknown as Workload;
}

export function decodeService(v: unknown, field = ''): Service {
  const o = obj(v, field);
  str(o, 'name', field);
  str(o, 'namespace', field);
  str(o, 'hostname', field);
  str(o, 'key', field);
  // ServiceEntry addresses may be CIDRs.
  addresses(o.vips, at(field, 'vips'), isIpOrCidr, 'an IP address or CIDR');
  list(o.ports, at(field, 'ports')).forEach((p, i) => {
    const po = obj(p, at(at(field, 'ports'), i));
    port(po.port, at(at(at(field, 'ports'), i), 'port'));
    port(po.targetPort, at(at(at(field, 'ports'), i), 'targetPort'));
    if (typeof po.protocol !== 'string') bad(at(at(at(field, 'ports'), i), 'protocol'), 'expected a string');
  });
  if (o.resolution !== undefined) oneOf(o, 'resolution', field, RESOLUTIONS);
  // A DNS ServiceEntry's endpoints are host names; an endpoint without an address (one behind
  // a network gateway, which Ambit does not route) is carried as ''.
  const endpointOk = o.resolution === 'DNS' ? (a: unknown) => isIp(a) || isHostname(a) : isIp;
  list(o.endpoints, at(field, 'endpoints')).forEach((e, i) => {
    const base = at(at(field, 'endpoints'), i);
    const eo = obj(e, base);
    if (eo.address !== '' && !endpointOk(eo.address))
      bad(
        at(base, 'address'),
        `not an IP address${o.resolution === 'DNS' ? ' or host name' : ''}: ${JSON.stringify(eo.address)}`,
      );
    optional(eo, 'ports', base, (m) => typeof m === 'object' && m !== null && !Array.isArray(m), 'expected an object');
  });
  optional(o, 'external', field, (x) => typeof x === 'boolean', 'expected true or false');
  if (o.exportTo !== undefined) strings(o.exportTo, at(field, 'exportTo'));
  return o as unknown as Service;
}

export function decodeAuthorizationPolicy(v: unknown, field = ''): AuthorizationPolicy {
  const o = obj(v, field);
  str(o, 'name', field);
  scope(o.scope, at(field, 'scope'));
  str(o, 'key', field);
  oneOf(o, 'action', field, ACTIONS);
  list(o.rules, at(field, 'rules')).forEach((r, i) => obj(r, at(at(field, 'rules'), i)));
  return o as unknown as AuthorizationPolicy;
}

export function decodePeerAuthentication(v: unknown, field = ''): PeerAuthentication {
  const o = obj(v, field);
  str(o, 'name', field);
  scope(o.scope, at(field, 'scope'));
  str(o, 'key', field);
  oneOf(o, 'mode', field, MODES);
  if (o.portLevel !== undefined)
    for (const [p, mode] of Object.entries(obj(o.portLevel, at(field, 'portLevel'))))
      if (!MODES.includes(mode as MtlsMode))
        bad(at(at(field, 'portLevel'), p), 'expected STRICT, PERMISSIVE, DISABLE or UNSET');
  return o as unknown as PeerAuthentication;
}

export function decodeSidecarScope(v: unknown, field = ''): SidecarScope {
  const o = obj(v, field);
  str(o, 'key', field);
  scope(o.scope, at(field, 'scope'));
  strings(o.egressHosts, at(field, 'egressHosts'));
  strings(o.visibleServices, at(field, 'visibleServices'));
  if (o.outboundTrafficPolicy !== undefined) oneOf(o, 'outboundTrafficPolicy', field, OUTBOUND);
  return o as unknown as SidecarScope;
}

export function decodeNamespace(v: unknown, field = ''): NamespaceInfo {
  const o = obj(v, field);
  str(o, 'name', field);
  stringMap(o.labels, at(field, 'labels'));
  return o as unknown as NamespaceInfo;
}
