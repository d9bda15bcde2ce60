// Reads a mesh snapshot written by hand or by a tool (file mode): JSON or YAML, validated
// into the model's shape. Omitted lists default to empty, the mesh config to Ambit's
// defaults, and a workload's identity to its service account's SPIFFE id; anything with
// meaning (IPs, ports, actions) must be there and well-formed, or the error names it.
import net from 'node:net';
import { parse as parseYaml } from 'yaml';
import { AmbitError } from '../../core/errors.js';
import { spiffeIdFor } from '../../core/identity/spiffe.js';
import {
  DEFAULT_MESH_CONFIG,
  type AuthorizationPolicy,
  type MeshConfig,
  type MeshSnapshot,
  type PeerAuthentication,
  type Service,
  type Workload,
} from '../../core/model/types.js';

type Json = Record<string, unknown>;

function bad(field: string, reason: string): never {
  throw new AmbitError('AMBIT_E_CONFIG', `${field}: ${reason}`, {
    hint: 'fix the mesh snapshot file; the agent keeps the last good config',
  });
}

function obj(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'expected an object');
  return v as Json;
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(field, 'expected a list');
  return v;
}

function str(o: Json, key: string, field: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') bad(`${field}.${key}`, 'expected a non-empty string');
  return v;
}

function ipList(v: unknown, field: string): string[] {
  return list(v, field).map((ip, i) => {
    if (typeof ip !== 'string' || net.isIP(ip) === 0) bad(`${field}[${i}]`, `not an IP address: ${JSON.stringify(ip)}`);
    return ip;
  });
}

function portNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535)
    bad(field, `not a port number: ${JSON.stringify(v)}`);
  return v;
}

function workload(v: unknown, field: string, td: string): Workload {
  const o = obj(v, field);
  const namespace = str(o, 'namespace', field);
  const name = str(o, 'name', field);
  const serviceAccount = typeof o.serviceAccount === 'string' && o.serviceAccount ? o.serviceAccount : 'default';
  const kind = o.kind === 'WorkloadEntry' ? 'WorkloadEntry' : 'Pod';
  if (o.enrolled !== undefined && typeof o.enrolled !== 'boolean') bad(`${field}.enrolled`, 'expected true or false');
  return {
    ...(o as object),
    uid: typeof o.uid === 'string' && o.uid ? o.uid : `${kind}/${namespace}/${name}`,
    kind,
    name,
    namespace,
    serviceAccount,
    identity: typeof o.identity === 'string' && o.identity ? o.identity : spiffeIdFor(td, namespace, serviceAccount),
    ips: ipList(o.ips, `${field}.ips`),
    node: typeof o.node === 'string' ? o.node : '',
    labels: (o.labels ?? {}) as Workload['labels'],
    enrolled: o.enrolled === true,
  } as Workload;
}

function service(v: unknown, field: string): Service {
  const o = obj(v, field);
  const namespace = str(o, 'namespace', field);
  const name = str(o, 'name', field);
  const hostname = typeof o.hostname === 'string' && o.hostname ? o.hostname : `${name}.${namespace}.svc.cluster.local`;
  const ports = list(o.ports, `${field}.ports`).map((p, i) => {
    const po = obj(p, `${field}.ports[${i}]`);
    const port = portNumber(po.port, `${field}.ports[${i}].port`);
    return {
      ...(typeof po.name === 'string' ? { name: po.name } : {}),
      port,
      targetPort: po.targetPort === undefined ? port : portNumber(po.targetPort, `${field}.ports[${i}].targetPort`),
      protocol: (typeof po.protocol === 'string' ? po.protocol : 'tcp') as Service['ports'][number]['protocol'],
    };
  });
  const endpoints = list(o.endpoints, `${field}.endpoints`).map((e, i) => {
    const eo = obj(e, `${field}.endpoints[${i}]`);
    const address = str(eo, 'address', `${field}.endpoints[${i}]`);
    if (net.isIP(address) === 0) bad(`${field}.endpoints[${i}].address`, `not an IP address: ${address}`);
    return { ...(eo as object), address } as Service['endpoints'][number];
  });
  return {
    ...(o as object),
    key: typeof o.key === 'string' && o.key ? o.key : `${namespace}/${hostname}`,
    name,
    namespace,
    hostname,
    vips: ipList(o.vips, `${field}.vips`),
    ports,
    endpoints,
  } as Service;
}

function scoped<T extends { key: string; name: string }>(v: unknown, field: string): T {
  const o = obj(v, field);
  const name = str(o, 'name', field);
  const scope = obj(o.scope, `${field}.scope`);
  const namespace = str(scope, 'namespace', `${field}.scope`);
  if (!['mesh', 'namespace', 'workload'].includes(scope.level as string))
    bad(`${field}.scope.level`, 'expected mesh, namespace or workload');
  return {
    ...(o as object),
    key: typeof o.key === 'string' && o.key ? o.key : `${namespace}/${name}`,
    name,
  } as unknown as T;
}

/** Validate a parsed document into a MeshSnapshot (throws AmbitError naming the field). */
export function snapshotFromDocument(doc: unknown, fallbackVersion: string): MeshSnapshot {
  const o = obj(doc, 'snapshot');
  const meshIn = o.mesh === undefined ? {} : obj(o.mesh, 'mesh');
  const mesh: MeshConfig = { ...DEFAULT_MESH_CONFIG, ...(meshIn as Partial<MeshConfig>) };
  if (mesh.outboundTrafficPolicy !== 'ALLOW_ANY' && mesh.outboundTrafficPolicy !== 'REGISTRY_ONLY') {
    bad('mesh.outboundTrafficPolicy', 'expected ALLOW_ANY or REGISTRY_ONLY');
  }
  const authorizationPolicies = list(o.authorizationPolicies, 'authorizationPolicies').map((p, i) => {
    const policy = scoped<AuthorizationPolicy>(p, `authorizationPolicies[${i}]`);
    if (!['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'].includes(policy.action))
      bad(`authorizationPolicies[${i}].action`, 'expected ALLOW, DENY, AUDIT or CUSTOM');
    return { ...policy, rules: list(policy.rules, `authorizationPolicies[${i}].rules`) } as AuthorizationPolicy;
  });
  const peerAuthentications = list(o.peerAuthentications, 'peerAuthentications').map((p, i) => {
    const pa = scoped<PeerAuthentication>(p, `peerAuthentications[${i}]`);
    if (!['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'].includes(pa.mode))
      bad(`peerAuthentications[${i}].mode`, 'expected STRICT, PERMISSIVE, DISABLE or UNSET');
    return pa;
  });
  return {
    ...(o as object),
    version: typeof o.version === 'string' && o.version ? o.version : fallbackVersion,
    mesh,
    workloads: list(o.workloads, 'workloads').map((w, i) => workload(w, `workloads[${i}]`, mesh.trustDomain)),
    services: list(o.services, 'services').map((s, i) => service(s, `services[${i}]`)),
    authorizationPolicies,
    peerAuthentications,
  } as MeshSnapshot;
}

/** Parse file text (JSON is YAML too). */
export function parseSnapshotText(text: string, fallbackVersion: string, file: string): MeshSnapshot {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new AmbitError('AMBIT_E_CONFIG', `${file}: not JSON or YAML: ${(err as Error).message}`, { cause: err });
  }
  try {
    return snapshotFromDocument(doc, fallbackVersion);
  } catch (err) {
    if (err instanceof AmbitError)
      throw new AmbitError(err.code, `${file}: ${err.message}`, { ...(err.hint ? { hint: err.hint } : {}) });
    throw err;
  }
}
