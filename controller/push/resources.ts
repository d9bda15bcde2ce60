// The controller's side of the resource types: a translate result becomes, per type, a map
// of named resources with their JSON body and content version, so that the push server
// can compare versions with what each client holds and send only what changed.
import { createHash } from 'node:crypto';
import type { MeshSnapshot } from '../../core/model/types.js';
import type { GatewayConfig, WaypointConfig } from '../../core/model/l7.js';
import {
  MESH_CONFIG_NAME,
  TYPE_AUTHORIZATION_POLICY,
  TYPE_GATEWAY_CONFIG,
  TYPE_MESH_CONFIG,
  TYPE_NAMESPACE,
  TYPE_PEER_AUTHENTICATION,
  TYPE_SERVICE,
  TYPE_SIDECAR_SCOPE,
  TYPE_WAYPOINT_CONFIG,
  TYPE_WORKLOAD,
  resourceVersion,
} from '../../core/xds/resources.js';
import { listDeltaOf } from '../translate/list-delta.js';
import { OverlayMap } from './overlay-map.js';

export interface EncodedResource {
  readonly version: string;
  readonly body: string;
  /** For scoping: the namespace a policy applies in / a workload lives in. */
  readonly namespace?: string;
  /** For scoping: the node a workload runs on. */
  readonly node?: string;
  /** For on-demand lookups: a workload's IPs; a service's VIPs and hostname. */
  readonly addresses?: readonly string[];
  /** For scoping: a service's exportTo. */
  readonly exportTo?: readonly string[];
  /** For on-demand lookups: the workloads (uids, else addresses) of a service's endpoints. */
  readonly endpoints?: readonly string[];
}

/** type → name → encoded resource. */
export type ResourceSet = ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;

/**
 * Encodings by value object: the incremental translator hands over the very same object for
 * an item it did not rebuild, so each item is serialised and hashed once per version, and
 * the bytes are shared by every client that receives it.
 */
const encodings = new WeakMap<object, EncodedResource>();

/** Encodes one value; when its JSON equals `previous`'s, reuses that (no re-hashing). */
export function encode(value: unknown, previous?: EncodedResource): EncodedResource {
  const known = typeof value === 'object' && value !== null ? encodings.get(value) : undefined;
  if (known) return previous && previous.body === known.body ? previous : known;
  const body = JSON.stringify(value);
  const out =
    previous && previous.body === body ? previous : { body, version: resourceVersion(body), ...scopeFields(value) };
  if (typeof value === 'object' && value !== null) encodings.set(value, out);
  return out;
}

/**
 * Workloads: namespace, node, IPs; policies (`scope.namespace`): namespace; services:
 * VIPs and hostname, exportTo, endpoint workloads.
 */
function scopeFields(value: unknown): Omit<EncodedResource, 'body' | 'version'> {
  const v = value as {
    namespace?: unknown;
    node?: unknown;
    scope?: { namespace?: unknown };
    ips?: unknown;
    vips?: unknown;
    hostname?: unknown;
    exportTo?: unknown;
    endpoints?: unknown;
    uid?: unknown;
  };
  const namespace =
    typeof v.scope?.namespace === 'string'
      ? v.scope.namespace
      : typeof v.namespace === 'string'
        ? v.namespace
        : undefined;
  const strings = (x: unknown): string[] =>
    Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
  const out: { -readonly [K in keyof Omit<EncodedResource, 'body' | 'version'>]: EncodedResource[K] } = {};
  if (namespace !== undefined) out.namespace = namespace;
  if (typeof v.node === 'string') out.node = v.node;
  if (typeof v.uid === 'string' && Array.isArray(v.ips)) out.addresses = strings(v.ips);
  if (typeof v.hostname === 'string' && Array.isArray(v.vips) && Array.isArray(v.endpoints)) {
    out.addresses = [...strings(v.vips), v.hostname];
    out.exportTo = Array.isArray(v.exportTo) ? strings(v.exportTo) : ['*'];
    out.endpoints = (v.endpoints as Array<{ workloadUid?: unknown; address?: unknown }>)
      .map((e) =>
        typeof e.workloadUid === 'string' ? e.workloadUid : typeof e.address === 'string' ? `@${e.address}` : '',
      )
      .filter((s) => s !== '');
  }
  return out;
}

/** JSON text and hash of one item of a config's list, kept per object (the model is immutable). */
const itemTexts = new WeakMap<object, { json: string; hash: string }>();

function itemText(item: object): { json: string; hash: string } {
  let t = itemTexts.get(item);
  if (!t) {
    const json = JSON.stringify(item);
    t = { json, hash: resourceVersion(json) };
    itemTexts.set(item, t);
  }
  return t;
}

const isObjectList = (v: unknown): v is object[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));

/**
 * A waypoint config is megabytes at 10,000 services, and a pod change rebuilds a few of its
 * clusters: the body (the same text JSON.stringify gives) is put together from the JSON of
 * each list item, kept per object, and the version hashes the items' hashes. So only the
 * rebuilt items are serialised and hashed again.
 */
function encodeWaypointConfig(cfg: WaypointConfig): EncodedResource {
  const known = encodings.get(cfg);
  if (known) return known;
  const parts: string[] = [];
  const hash = createHash('sha256');
  for (const [key, field] of Object.entries(cfg)) {
    if (field === undefined) continue;
    let json: string;
    if (isObjectList(field)) {
      const items = field.map(itemText);
      json = `[${items.map((t) => t.json).join(',')}]`;
      hash.update(`${JSON.stringify(key)}[${items.map((t) => t.hash).join(',')}]`);
    } else {
      json = JSON.stringify(field);
      hash.update(`${JSON.stringify(key)}=${json};`);
    }
    parts.push(`${JSON.stringify(key)}:${json}`);
  }
  const out = { body: `{${parts.join(',')}}`, version: hash.digest('base64url').slice(0, 16) };
  encodings.set(cfg, out);
  return out;
}

const NONE: readonly never[] = [];
/** Encoded maps by the list they were made from: a list the translator kept is not walked again. */
const listMaps = new WeakMap<readonly object[], ReadonlyMap<string, EncodedResource>>();

function encodeList<T extends object>(
  values: readonly T[],
  name: (v: T) => string,
  previous?: ReadonlyMap<string, EncodedResource>,
): ReadonlyMap<string, EncodedResource> {
  const known = values.length > 0 ? listMaps.get(values) : undefined;
  if (known) return known;
  // The translator says which items differ from a list encoded as `previous`: copy, patch.
  const delta = listDeltaOf(values);
  if (delta && previous && listMaps.get(delta.base) === previous) {
    const patches: Array<readonly [string, EncodedResource | undefined]> = [];
    const changed: string[] = [];
    for (const [n, v] of delta.changes) {
      const before = previous.get(n);
      if (v === undefined) {
        if (before !== undefined) {
          patches.push([n, undefined]);
          changed.push(n);
        }
        continue;
      }
      const now = encode(v, before);
      if (now !== before) {
        patches.push([n, now]);
        changed.push(n);
      }
    }
    // The previous map with the differences laid over it: no copy of every entry.
    const out = OverlayMap.patch(previous, patches);
    deltas.set(out, { base: previous, changed });
    listMaps.set(values, out);
    return out;
  }
  const out = new Map<string, EncodedResource>();
  // What differs from `previous`, found on the way (changedNames then needs no second pass).
  const changed: string[] = [];
  let kept = 0;
  for (const v of values) {
    const n = name(v);
    const before = previous?.get(n);
    const now = encode(v, before);
    out.set(n, now);
    if (before !== undefined) kept++;
    if (now !== before) changed.push(n);
  }
  if (previous && kept < previous.size) for (const n of previous.keys()) if (!out.has(n)) changed.push(n);
  if (previous) deltas.set(out, { base: previous, changed });
  if (values !== NONE) listMaps.set(values, out);
  return out;
}

/** Encoded map → the map it was encoded against and the names that differ from it. */
const deltas = new WeakMap<
  ReadonlyMap<string, EncodedResource>,
  { base: ReadonlyMap<string, EncodedResource>; changed: readonly string[] }
>();

/**
 * Encodes a translate result: the snapshot's L4 types, WaypointConfig per namespace,
 * GatewayConfig per gateway. Entries of `previous` (the last set) whose JSON is unchanged
 * are reused as they are.
 */
export function buildResourceSet(
  input: {
    snapshot: MeshSnapshot;
    waypoints: ReadonlyMap<string, WaypointConfig>;
    gateways?: ReadonlyMap<string, GatewayConfig>;
  },
  previous?: ResourceSet,
): ResourceSet {
  const out = new Map<string, ReadonlyMap<string, EncodedResource>>();
  const s = input.snapshot;
  const list = <T extends object>(type: string, values: readonly T[] | undefined, name: (v: T) => string): void => {
    out.set(type, encodeList(values ?? NONE, name, previous?.get(type)));
  };
  out.set(
    TYPE_MESH_CONFIG,
    encodeList([s.mesh], () => MESH_CONFIG_NAME, previous?.get(TYPE_MESH_CONFIG)),
  );
  list(TYPE_WORKLOAD, s.workloads, (w) => w.uid);
  list(TYPE_SERVICE, s.services, (v) => v.key);
  list(TYPE_AUTHORIZATION_POLICY, s.authorizationPolicies, (p) => p.key);
  list(TYPE_PEER_AUTHENTICATION, s.peerAuthentications, (p) => p.key);
  list(TYPE_SIDECAR_SCOPE, s.sidecarScopes, (p) => p.key);
  list(TYPE_NAMESPACE, s.namespaces, (n) => n.name);
  out.set(TYPE_WAYPOINT_CONFIG, new Map([...input.waypoints].map(([ns, cfg]) => [ns, encodeWaypointConfig(cfg)])));
  const prevGateways = previous?.get(TYPE_GATEWAY_CONFIG);
  out.set(
    TYPE_GATEWAY_CONFIG,
    new Map(
      [...(input.gateways ?? new Map<string, GatewayConfig>())].map(([key, g]) => [
        key,
        encode(g, prevGateways?.get(key)),
      ]),
    ),
  );
  return out;
}

/** Names whose version differs between two sets, per type (for logs and tests). */
export function changedNames(before: ResourceSet | undefined, after: ResourceSet): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [type, now] of after) {
    const prev = before?.get(type);
    if (prev === now) continue; // the same encoded map: nothing changed
    const delta = deltas.get(now);
    if (delta && prev !== undefined && delta.base === prev) {
      if (delta.changed.length) out.set(type, [...delta.changed]);
      continue;
    }
    const names = [...now].filter(([n, r]) => prev?.get(n)?.version !== r.version).map(([n]) => n);
    for (const n of prev?.keys() ?? []) if (!now.has(n)) names.push(n);
    if (names.length) out.set(type, names);
  }
  return out;
}
