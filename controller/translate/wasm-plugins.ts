// WasmPlugin (extensions.istio.io/v1alpha1) → the plugins each waypoint loads. A plugin
// reaches a waypoint through targetRefs (the waypoint Gateway, or a Service it serves), or,
// without selector and targetRefs, every waypoint of its namespace (the root namespace: all).
// A selector picks workloads, which in ambient mode have no proxy to load it: such plugins
// reach no waypoint. Fields Ambit cannot honour reject the plugin, naming the field.
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import type { WasmPluginConfig, WasmPluginPhase } from '../../core/model/l7.js';
import type { Service } from '../../core/model/types.js';
import { rec, recs, str } from './raw.js';
import { rejectionFor, type Rejection } from './inventory.js';

/** A validated WasmPlugin, before it is matched to waypoints. */
export interface WasmPluginSource {
  readonly namespace: string;
  readonly plugin: Omit<WasmPluginConfig, 'services'>;
  /** undefined: no targetRefs (namespace-wide, unless `selected`). */
  readonly targets?: readonly { readonly kind: 'Gateway' | 'Service'; readonly name: string }[];
  /** Has a workload selector (reaches no waypoint). */
  readonly selected: boolean;
}

const KNOWN_SPEC = new Set([
  'selector',
  'targetRef',
  'targetRefs',
  'url',
  'sha256',
  'imagePullPolicy',
  'imagePullSecret',
  'pluginConfig',
  'pluginName',
  'phase',
  'priority',
  'failStrategy',
  'type',
  'vmConfig',
  'match',
]);
const PHASES = new Set(['AUTHN', 'AUTHZ', 'STATS', 'UNSPECIFIED_PHASE']);

type Problem = { field: string; reason: string };

function parse(obj: KubeObject): { source?: WasmPluginSource; problem?: Problem } {
  const spec = rec((obj as { spec?: unknown }).spec) ?? {};
  const namespace = obj.metadata.namespace ?? 'default';
  const key = `${namespace}/${obj.metadata.name}`;
  const unknown = Object.keys(spec).find((k) => !KNOWN_SPEC.has(k));
  if (unknown) return { problem: { field: `spec.${unknown}`, reason: 'unknown field' } };
  if (spec.match !== undefined)
    return { problem: { field: 'spec.match', reason: 'not supported by Ambit (use targetRefs to pick services)' } };
  if (spec.vmConfig !== undefined)
    return { problem: { field: 'spec.vmConfig', reason: 'not supported by Ambit (plugins get no environment)' } };
  if (spec.type !== undefined && spec.type !== 'HTTP' && spec.type !== 'UNSPECIFIED_PLUGIN_TYPE')
    return { problem: { field: 'spec.type', reason: `${String(spec.type)} plugins are not supported (HTTP only)` } };
  const url = str(spec.url);
  if (!url) return { problem: { field: 'spec.url', reason: 'required' } };
  if (!/^(file|https?):\/\//.test(url))
    return {
      problem: { field: 'spec.url', reason: 'Ambit loads file://, http:// and https:// modules (no OCI images)' },
    };
  const sha256 = spec.sha256 === undefined ? undefined : str(spec.sha256);
  if (spec.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha256 ?? ''))
    return { problem: { field: 'spec.sha256', reason: 'must be 64 hexadecimal digits' } };
  const phase = spec.phase === undefined ? 'UNSPECIFIED_PHASE' : str(spec.phase);
  if (!phase || !PHASES.has(phase))
    return { problem: { field: 'spec.phase', reason: 'must be AUTHN, AUTHZ, STATS or UNSPECIFIED_PHASE' } };
  const priority = spec.priority === undefined ? 0 : spec.priority;
  if (typeof priority !== 'number' || !Number.isInteger(priority))
    return { problem: { field: 'spec.priority', reason: 'must be an integer' } };
  const failStrategy = spec.failStrategy === undefined ? 'FAIL_CLOSE' : spec.failStrategy;
  if (failStrategy !== 'FAIL_CLOSE' && failStrategy !== 'FAIL_OPEN')
    return { problem: { field: 'spec.failStrategy', reason: 'must be FAIL_CLOSE or FAIL_OPEN' } };
  const refs = [...(spec.targetRef === undefined ? [] : [rec(spec.targetRef) ?? {}]), ...recs(spec.targetRefs)];
  const targets: { kind: 'Gateway' | 'Service'; name: string }[] = [];
  for (const [i, ref] of refs.entries()) {
    const kind = str(ref.kind);
    const name = str(ref.name);
    const field =
      spec.targetRef === undefined ? `spec.targetRefs[${i}]` : i === 0 ? 'spec.targetRef' : `spec.targetRefs[${i - 1}]`;
    if ((kind !== 'Gateway' && kind !== 'Service') || !name)
      return { problem: { field, reason: 'must name a Gateway (a waypoint) or a Service' } };
    if (ref.namespace !== undefined && ref.namespace !== namespace)
      return { problem: { field: `${field}.namespace`, reason: 'must be the WasmPlugin namespace' } };
    targets.push({ kind, name });
  }
  const plugin: Omit<WasmPluginConfig, 'services'> = {
    key,
    url,
    ...(sha256 ? { sha256: sha256.toLowerCase() } : {}),
    phase: phase as WasmPluginPhase,
    priority,
    ...(spec.pluginConfig !== undefined ? { pluginConfig: spec.pluginConfig } : {}),
    failStrategy,
  };
  return {
    source: {
      namespace,
      plugin,
      ...(refs.length > 0 ? { targets } : {}),
      selected: spec.selector !== undefined && refs.length === 0,
    },
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
    const { source, problem } = parse(obj);
    if (problem) rejected.push(rejectionFor(obj, problem.field, problem.reason, origins));
    else if (source) out.push(source);
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
