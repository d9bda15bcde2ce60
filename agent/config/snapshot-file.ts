// Reads a mesh snapshot written by hand or by a tool (file mode): JSON or YAML, validated
// into the model's shape. Omitted lists default to empty, the mesh config to Ambit's
// defaults, and a workload's identity to its service account's SPIFFE id; anything with
// meaning (IPs, ports, actions) must be there and well-formed, or the error names it.
import { createRequire } from 'node:module';
import { AmbitError } from '../../core/errors.js';
import { withAutoVips } from '../../core/dns/vip-allocation.js';
import { spiffeIdFor } from '../../core/identity/spiffe.js';
import {
  ModelError,
  decodeAuthorizationPolicy,
  decodeMeshConfig,
  decodeNamespace,
  decodePeerAuthentication,
  decodeService,
  decodeSidecarScope,
  decodeWorkload,
} from '../../core/model/decode-mesh.js';
import { DEFAULT_MESH_CONFIG, type MeshSnapshot } from '../../core/model/types.js';

// What a hand-written file may leave out is filled in here; what is left is checked by the
// same decoders as discovery (core/model/decode-mesh.ts), which name the field at fault.

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown): v is string => typeof v === 'string' && v !== '';
const orEmpty = (v: unknown): unknown => (v === undefined || v === null ? [] : v);

/** The items of an optional list, each with its defaults (a non-list is left for the decoder). */
function items(v: unknown, fill: (o: Json) => Json): unknown {
  const l = orEmpty(v);
  return Array.isArray(l) ? l.map((x) => (isObj(x) ? fill(x) : x)) : l;
}

const workloadDefaults =
  (td: string) =>
  (o: Json): Json => {
    const kind = o.kind ?? 'Pod';
    const serviceAccount = given(o.serviceAccount) ? o.serviceAccount : 'default';
    return {
      ...o,
      uid: given(o.uid) ? o.uid : `${String(kind)}/${String(o.namespace)}/${String(o.name)}`,
      kind,
      serviceAccount,
      identity: given(o.identity) ? o.identity : spiffeIdFor(td, String(o.namespace), serviceAccount),
      ips: orEmpty(o.ips),
      node: o.node ?? '',
      labels: o.labels ?? {},
      enrolled: o.enrolled ?? false,
    };
  };

function serviceDefaults(o: Json): Json {
  const hostname = given(o.hostname) ? o.hostname : `${String(o.name)}.${String(o.namespace)}.svc.cluster.local`;
  return {
    ...o,
    key: given(o.key) ? o.key : `${String(o.namespace)}/${hostname}`,
    hostname,
    vips: orEmpty(o.vips),
    ports: items(o.ports, (p) => ({ ...p, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'tcp' })),
    endpoints: orEmpty(o.endpoints),
  };
}

/** A policy's key from its scope's namespace and its name. */
function keyed(o: Json): Json {
  const ns = isObj(o.scope) ? o.scope.namespace : undefined;
  return { ...o, key: given(o.key) ? o.key : `${String(ns)}/${String(o.name)}` };
}

function decodeAll<T>(v: unknown, field: string, fill: (o: Json) => Json, decode: (v: unknown, f: string) => T): T[] {
  const l = items(v, fill);
  if (!Array.isArray(l)) throw new ModelError(field, 'expected a list');
  return l.map((x, i) => decode(x, `${field}[${i}]`));
}

function fileError(err: unknown): never {
  if (err instanceof ModelError)
    throw new AmbitError('AMBIT_E_CONFIG', err.message, {
      hint: 'fix the mesh snapshot file; the agent keeps the last good config',
      cause: err,
    });
  throw err;
}

/** Validate a parsed document into a MeshSnapshot (throws AmbitError naming the field). */
export function snapshotFromDocument(doc: unknown, fallbackVersion: string): MeshSnapshot {
  try {
    if (!isObj(doc)) throw new ModelError('snapshot', 'expected an object');
    if (doc.mesh !== undefined && !isObj(doc.mesh)) throw new ModelError('mesh', 'expected an object');
    const mesh = decodeMeshConfig({ ...DEFAULT_MESH_CONFIG, ...(doc.mesh ?? {}) }, 'mesh');
    const sidecarScopes = doc.sidecarScopes === undefined ? undefined : doc.sidecarScopes;
    const namespaces = doc.namespaces === undefined ? undefined : doc.namespaces;
    return {
      ...doc,
      version: given(doc.version) ? doc.version : fallbackVersion,
      mesh,
      workloads: decodeAll(doc.workloads, 'workloads', workloadDefaults(mesh.trustDomain), decodeWorkload),
      // ServiceEntry hosts written without addresses get the controller's auto VIPs.
      services: withAutoVips(decodeAll(doc.services, 'services', serviceDefaults, decodeService), mesh),
      authorizationPolicies: decodeAll(
        doc.authorizationPolicies,
        'authorizationPolicies',
        (p) => keyed({ ...p, rules: orEmpty(p.rules) }),
        decodeAuthorizationPolicy,
      ),
      peerAuthentications: decodeAll(doc.peerAuthentications, 'peerAuthentications', keyed, decodePeerAuthentication),
      ...(sidecarScopes === undefined
        ? {}
        : { sidecarScopes: decodeAll(sidecarScopes, 'sidecarScopes', (s) => s, decodeSidecarScope) }),
      ...(namespaces === undefined
        ? {}
        : {
            namespaces: decodeAll(namespaces, 'namespaces', (n) => ({ ...n, labels: n.labels ?? {} }), decodeNamespace),
          }),
    } as MeshSnapshot;
  } catch (err) {
    return fileError(err);
  }
}

const requireModule = createRequire(import.meta.url);

/** JSON (what tools write) without loading the YAML parser; YAML only for text that is not JSON. */
function parseDocument(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const yaml = requireModule('yaml') as typeof import('yaml');
    return yaml.parse(text) as unknown;
  }
}

/** Parse file text (JSON is YAML too). */
export function parseSnapshotText(text: string, fallbackVersion: string, file: string): MeshSnapshot {
  let doc: unknown;
  try {
    doc = parseDocument(text);
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
