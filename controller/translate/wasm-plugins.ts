// WasmPlugin (extensions.istio.io/v1alpha1) → the plugins each waypoint loads. A plugin
// reaches a waypoint through targetRefs (the waypoint Gateway, or a Service it serves), or,
// without selector and targetRefs, every waypoint of its namespace (the root namespace: all).
// A selector picks workloads, which in ambient mode have no proxy to load it: such plugins
// reach no waypoint. Fields Ambit cannot honour reject the plugin, naming the field.
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import type { WasmPluginConfig, WasmPluginPhase } from '../../core/model/l7.js';
import type { Service } from '../../core/model/types.js';
import { rejectionFor, type Rejection } from './inventory.js';
import { decodeIstioObject, type IstioObject } from './decode-object.js';
import * as ext from '../../core/crds/extensions.js';
import type { WasmPluginSpec } from '../../core/crds/types.js';

/** A validated WasmPlugin, before it is matched to waypoints. */
export interface WasmPluginSource {
  readonly namespace: string;
  readonly plugin: Omit<WasmPluginConfig, 'services'>;
  /** undefined: no targetRefs (namespace-wide, unless `selected`). */
  readonly targets?: readonly { readonly kind: 'Gateway' | 'Service'; readonly name: string }[];
  /** Has a workload selector (reaches no waypoint). */
  readonly selected: boolean;
}

type Problem = { field: string; reason: string };

const isTargetKind = (kind: string): kind is 'Gateway' | 'Service' => kind === 'Gateway' || kind === 'Service';

/** targetRef and targetRefs, with the field each came from. */
function targetRefsOf(
  spec: WasmPluginSpec,
): { readonly ref: NonNullable<WasmPluginSpec['targetRef']>; field: string }[] {
  return [
    ...(spec.targetRef ? [{ ref: spec.targetRef, field: 'spec.targetRef' }] : []),
    ...(spec.targetRefs ?? []).map((ref, i) => ({ ref, field: `spec.targetRefs[${i}]` })),
  ];
}

/** What Ambit cannot honour as written (decode checked types, enums and unknown fields). */
function problemOf(spec: WasmPluginSpec, namespace: string): Problem | undefined {
  if (spec.match !== undefined)
    return { field: 'spec.match', reason: 'not supported by Ambit (use targetRefs to pick services)' };
  if (spec.vmConfig !== undefined)
    return { field: 'spec.vmConfig', reason: 'not supported by Ambit (plugins get no environment)' };
  if (spec.type === 'NETWORK') return { field: 'spec.type', reason: 'NETWORK plugins are not supported (HTTP only)' };
  if (spec.failStrategy === 'FAIL_RELOAD')
    return {
      field: 'spec.failStrategy',
      reason: 'FAIL_RELOAD is not supported by Ambit (a failed plugin is not reloaded): use FAIL_CLOSE or FAIL_OPEN',
    };
  if (spec.url === '') return { field: 'spec.url', reason: 'required' };
  if (!/^(file|https?):\/\//.test(spec.url))
    return { field: 'spec.url', reason: 'Ambit loads file://, http:// and https:// modules (no OCI images)' };
  if (spec.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(spec.sha256))
    return { field: 'spec.sha256', reason: 'must be 64 hexadecimal digits' };
  for (const { ref, field } of targetRefsOf(spec)) {
    if (!isTargetKind(ref.kind) || !ref.name) return { field, reason: 'must name a Gateway (a waypoint) or a Service' };
    if (ref.namespace !== undefined && ref.namespace !== namespace)
      return { field: `${field}.namespace`, reason: 'must be the WasmPlugin namespace' };
  }
  return undefined;
}

function sourceOf(obj: IstioObject<WasmPluginSpec>): WasmPluginSource {
  const { spec } = obj;
  const namespace = obj.metadata.namespace ?? 'default';
  const refs = targetRefsOf(spec);
  const plugin: Omit<WasmPluginConfig, 'services'> = {
    key: `${namespace}/${obj.metadata.name}`,
    url: spec.url,
    ...(spec.sha256 ? { sha256: spec.sha256.toLowerCase() } : {}),
    phase: (spec.phase ?? 'UNSPECIFIED_PHASE') satisfies WasmPluginPhase,
    priority: spec.priority ?? 0,
    ...(spec.pluginConfig !== undefined ? { pluginConfig: spec.pluginConfig } : {}),
    failStrategy: spec.failStrategy === 'FAIL_OPEN' ? 'FAIL_OPEN' : 'FAIL_CLOSE',
  };
  return {
    namespace,
    plugin,
    ...(refs.length > 0
      ? { targets: refs.flatMap(({ ref }) => (isTargetKind(ref.kind) ? [{ kind: ref.kind, name: ref.name }] : [])) }
      : {}),
    selected: spec.selector !== undefined && refs.length === 0,
  };
}

/** The valid WasmPlugins among `objects`; the others become rejections. */
export function readWasmPlugins(
  objects: readonly KubeObject[],
  rejected: Rejection[],
  origins?: ReadonlyMap<string, ObjectOrigin>,
): WasmPluginSource[] {
  const out: WasmPluginSource[] = [];
  for (const obj of objects) {
    if (obj.kind !== 'WasmPlugin' || !(obj.apiVersion ?? '').startsWith('extensions.istio.io/')) continue;
    const decoded = decodeIstioObject(obj, ext.wasmPlugin);
    const problem = decoded.issues[0] ? undefined : problemOf(decoded.value.spec, obj.metadata.namespace ?? 'default');
    const problems = [...decoded.issues, ...(problem ? [problem] : [])];
    for (const p of problems) rejected.push(rejectionFor(obj, p.field, p.reason, origins));
    if (problems.length === 0) out.push(sourceOf(decoded.value));
  }
  return out;
}

/** The plugins the waypoint `waypoint` of namespace `ns` loads, given the services it serves. */
export function wasmPluginsFor(
  sources: readonly WasmPluginSource[] | undefined,
  ns: string,
  waypoint: string,
  served: readonly Service[],
  rootNamespace: string,
): WasmPluginConfig[] {
  const out: WasmPluginConfig[] = [];
  for (const s of sources ?? []) {
    if (s.selected) continue;
    if (!s.targets) {
      if (s.namespace === ns || s.namespace === rootNamespace) out.push(s.plugin);
      continue;
    }
    if (s.namespace !== ns) continue;
    if (s.targets.some((t) => t.kind === 'Gateway' && t.name === waypoint)) {
      out.push(s.plugin);
      continue;
    }
    const names = new Set(s.targets.filter((t) => t.kind === 'Service').map((t) => t.name));
    const services = served.filter((svc) => svc.namespace === ns && names.has(svc.name)).map((svc) => svc.key);
    if (services.length > 0) out.push({ ...s.plugin, services });
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}
